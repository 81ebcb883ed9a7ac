/**
 * PostgreSQL 15 from Debian's packages, in a cluster of the stack's own under
 * `.stack/data/postgres` with `wal_level=logical`. Users: `cdc` (owner of database `cdc`,
 * REPLICATION) and `cdc_replication` (REPLICATION, reads every table of `public`); the
 * superuser `postgres` is reachable only through the cluster's unix socket.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import type { StackContext } from '../context.ts';
import type { LocalServer } from '../server.ts';

const BIN = '/usr/lib/postgresql/15/bin';

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

function paths(ctx: StackContext) {
  const base = ctx.serverDataDir('postgres');
  return { base, pgdata: resolve(base, 'pgdata'), sock: resolve(base, 'sock') };
}

export const postgres: LocalServer = {
  name: 'postgres',
  description: 'PostgreSQL 15 (Debian), wal_level=logical',
  ports: ['postgres'],
  aptPackages: ['postgresql-15', 'postgresql-client-15'],
  stopSignal: 'SIGINT', // fast shutdown: SIGTERM would wait for every client to leave
  startTimeoutMs: 60_000,

  async install(ctx) {
    const { base, pgdata, sock } = paths(ctx);
    if (existsSync(resolve(pgdata, 'PG_VERSION'))) return;
    const user = runAs();
    mkdirSync(sock, { recursive: true });
    if (user) {
      for (const d of [base, sock]) chownSync(d, user.uid, user.gid);
    }
    await ctx.run(
      `${BIN}/initdb`,
      [
        '-D',
        pgdata,
        '-U',
        'postgres',
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C.UTF-8',
      ],
      {
        ...(user ?? {}),
        cwd: base,
      },
    );
    writeFileSync(
      resolve(pgdata, 'postgresql.auto.conf'),
      [
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${sock}'`,
        `wal_level = logical`,
        `max_replication_slots = 32`,
        `max_wal_senders = 32`,
        `max_connections = 200`,
        `wal_sender_timeout = 60s`,
        `fsync = on`,
        `shared_buffers = 256MB`,
        `logging_collector = off`,
        `log_min_messages = warning`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      resolve(pgdata, 'pg_hba.conf'),
      [
        'local all all trust',
        'local replication all trust',
        'host all all 127.0.0.1/32 scram-sha-256',
        'host replication all 127.0.0.1/32 scram-sha-256',
        '',
      ].join('\n'),
    );
    if (user) {
      for (const f of ['postgresql.auto.conf', 'pg_hba.conf'])
        chownSync(resolve(pgdata, f), user.uid, user.gid);
    }
  },

  async start(ctx) {
    const { pgdata } = paths(ctx);
    ctx.spawn('postgres', `${BIN}/postgres`, ['-D', pgdata, '-p', String(ctx.port('postgres'))], {
      ...(runAs() ?? {}),
      cwd: pgdata,
    });
  },

  async ready(ctx) {
    const admin = new pg.Client({
      host: paths(ctx).sock,
      port: ctx.port('postgres'),
      user: 'postgres',
      database: 'postgres',
    });
    await admin.connect();
    await admin.end();
  },

  async afterStart(ctx) {
    const { sock } = paths(ctx);
    const { postgres: ep, postgresReplication: repl } = ctx.endpoints;
    const admin = new pg.Client({
      host: sock,
      port: ctx.port('postgres'),
      user: 'postgres',
      database: 'postgres',
    });
    await admin.connect();
    try {
      const role = async (name: string, password: string, attrs: string) => {
        const exists = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
        const verb = exists.rowCount ? 'ALTER' : 'CREATE';
        await admin.query(`${verb} ROLE ${name} WITH LOGIN ${attrs} PASSWORD '${password}'`);
      };
      await role(ep.user, ep.password, 'REPLICATION CREATEDB');
      await role(repl.user, repl.password, 'REPLICATION');
      const db = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [ep.database]);
      if (!db.rowCount) await admin.query(`CREATE DATABASE ${ep.database} OWNER ${ep.user}`);
    } finally {
      await admin.end();
    }
    const owner = new pg.Client({
      host: sock,
      port: ctx.port('postgres'),
      user: 'postgres',
      database: ep.database,
    });
    await owner.connect();
    try {
      await owner.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${repl.user}`);
      await owner.query(
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${ep.user} IN SCHEMA public GRANT SELECT ON TABLES TO ${repl.user}`,
      );
    } finally {
      await owner.end();
    }
  },

  async health(ctx) {
    const ep = ctx.endpoints.postgres;
    const c = new pg.Client({ connectionString: ep.url, connectionTimeoutMillis: 2000 });
    await c.connect();
    try {
      const r = await c.query<{ v: string; wal: string }>(
        `SELECT current_setting('server_version') AS v, current_setting('wal_level') AS wal`,
      );
      const row = r.rows[0]!;
      if (row.wal !== 'logical') throw new Error(`wal_level is ${row.wal}, expected logical`);
      return { version: `PostgreSQL ${row.v}`, connection: ep.url, detail: 'wal_level=logical' };
    } finally {
      await c.end();
    }
  },
};

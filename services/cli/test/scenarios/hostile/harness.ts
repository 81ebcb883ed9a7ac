/**
 * The hostile-input suite's pipeline: a PostgreSQL database and a MongoDB database of the
 * test's own, a pipeline file capturing both into an embedded ClickHouse, started the way a
 * user starts it (`cdc up`), and one ordinary table, `public.ordinary`, whose rows must keep
 * flowing whatever the hostile input does to the tables beside it (`assertFlowing`).
 *
 *   const h = await openHostile('names');
 *   await h.sql('CREATE TABLE "t s"("my id" int PRIMARY KEY)');
 *   h.up();
 *   await h.sql('INSERT INTO "t s" VALUES (1)');
 *   await h.waitRows('SELECT * FROM `h_names_public_t_s` FINAL', (r) => r.length === 1);
 *   await h.assertFlowing();
 *   await h.close();
 *
 * Names: the database, the slot, the publication and the topic prefix are all `h_<area>_<pid>`
 * (`h.id`); PostgreSQL topics are `<id>.<id>.public.<table>`, MongoDB ones
 * `<id>_docs.<id>.<collection>`; ClickHouse tables are in database `h`. Run `close()` in
 * `afterAll`: it stops the pipeline and drops everything it made.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClickHouseReader, openReader } from '@cdc/clickhouse';
import { tableNameForTopic, topicFor } from '@cdc/core';
import { deleteTopicsIfExist } from '@cdc/kafka';
import { loadPipeline } from '@cdc/pipeline';
import {
  freePort,
  type ReadRecord,
  readTopic,
  scenarioKafka,
  pgSuperuser as superuser,
  withClient,
} from '@cdc/testkit';
import { type Db, MongoClient } from 'mongodb';
import pg from 'pg';
import { expect } from 'vitest';
import { localEndpoints } from '../../../../../infra/local/src/endpoints.ts';

export const ROOT = resolve(import.meta.dirname, '../../../../..');

/** `Hostile.embeddedSql`'s process: each statement on the directory, then the engine closed. */
const EMBEDDED_SQL = `
import { Session } from 'chdb';
const session = new Session(process.env.CDC_EMBEDDED_PATH);
try {
  for (const sql of JSON.parse(process.env.CDC_EMBEDDED_SQL)) session.query(sql);
} finally {
  session.close();
}
`;
const ep = localEndpoints();

export interface OpenOptions {
  /** YAML appended under the PostgreSQL source (indented by 6 spaces), e.g. `snapshotOptions: …`. */
  postgresExtra?: string;
  /** YAML appended under the MongoDB source (indented by 6 spaces). */
  mongoExtra?: string;
  /** YAML appended under `clickhouse.sink` (indented by 4 spaces). */
  sinkExtra?: string;
  /** Top-level YAML appended to the file (e.g. a `control:` section). */
  pipelineExtra?: string;
}

export interface DeadLetter {
  topic: string;
  /** `cdc.error.code` (capture) or the sink's reason header. */
  headers: Record<string, string>;
  key: string | null;
  value: string | null;
  size: number;
}

export interface Hostile {
  id: string;
  /** The pipeline file. */
  config: string;
  /** ClickHouse database of the replica. */
  database: string;
  /** A statement in the test's PostgreSQL database, as its owner (role `cdc`). */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<T[]>;
  /** A statement as the superuser (ALTER … REPLICA IDENTITY on others' tables, settings). */
  superSql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<T[]>;
  /** The test's MongoDB database. */
  mongo: Db;
  /** Runs `cdc <args> --config … --state-dir …`; status and output. */
  cdc(...args: string[]): { status: number | null; out: string };
  /** `cdc up`, asserting it started every service. */
  up(): void;
  /** `cdc down`. */
  down(): void;
  /**
   * Statements on the sink's embedded ClickHouse directory, the pipeline down (`down()` first),
   * run by a process of their own that exits before this returns: an engine opened in this
   * process would stay loaded here beside the sink's when the sink opens the directory again.
   */
  embeddedSql(statements: readonly string[]): void;
  /** A query on the replica's ClickHouse (the sink's engine, through its read endpoint). */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Polls `query(sql)` until `until(rows)` holds; returns the rows; fails naming the last rows. */
  waitRows<T = Record<string, unknown>>(
    sql: string,
    until: (rows: T[]) => boolean,
    timeoutMs?: number,
  ): Promise<T[]>;
  /** The ClickHouse table name the sink gives a PostgreSQL table of `public` (default mapping). */
  pgTable(table: string): string;
  /** The Kafka topic of a PostgreSQL table of `public`. */
  pgTopic(table: string): string;
  /** The Kafka topic of a MongoDB collection. */
  mongoTopic(collection: string): string;
  /** Every record of the capture's and the sink's dead-letter topics. */
  deadLetters(): Promise<DeadLetter[]>;
  /** Every record of a topic (read_committed, from the beginning). */
  readTopic(topic: string): Promise<ReadRecord[]>;
  /** The log of one service under `cdc up`. */
  log(service: 'capture-postgres' | 'capture-mongo' | 'sink-clickhouse'): string;
  /**
   * Inserts a new row into `public.ordinary` and a new document into `ordinary` and waits until
   * both are in ClickHouse: the rest of the pipeline kept flowing.
   */
  assertFlowing(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

async function dropAll(id: string): Promise<void> {
  await withClient(superuser('postgres'), async (c) => {
    await c.query(
      'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active',
      [id],
    );
    await c.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
      [id],
    );
    await c.query(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`);
  }).catch(() => undefined);
  const mongo = new MongoClient(ep.mongo.url);
  await mongo.connect();
  await mongo
    .db(id)
    .dropDatabase()
    .catch(() => undefined);
  await mongo.close();
  const admin = scenarioKafka(id).admin();
  await admin.connect();
  try {
    await deleteTopicsIfExist(
      admin,
      (await admin.listTopics()).filter((t) => t.startsWith(id)),
    );
    await admin.deleteGroups([`${id}-sink`]).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

async function endpointAnswers(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/?query=SELECT%201`, {
      signal: AbortSignal.timeout(1_500),
    });
    return r.ok;
  } catch {
    return false;
  }
}

/** Makes the test's databases and pipeline file (nothing runs until `up()`). */
export async function openHostile(area: string, options: OpenOptions = {}): Promise<Hostile> {
  const id = `h_${area}_${process.pid}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const dir = mkdtempSync(join(tmpdir(), `cdc-hostile-${area}-`));
  const config = join(dir, 'pipeline.yaml');
  const stateDir = join(dir, 'state');
  // A port the OS says is free (a fixed range collided with the stack's own listeners).
  const httpPort = await freePort();
  const database = 'h';
  await dropAll(id);
  await withClient(superuser('postgres'), (c) => c.query(`CREATE DATABASE ${id} OWNER cdc`));
  await withClient(superuser(id), async (c) => {
    await c.query('SET ROLE cdc');
    await c.query('CREATE TABLE public.ordinary (id bigint PRIMARY KEY, note text)');
    await c.query(`INSERT INTO public.ordinary VALUES (0, 'before start')`);
    await c.query('RESET ROLE');
    await c.query(`CREATE PUBLICATION ${id} FOR TABLES IN SCHEMA public`);
  });
  const mongoClient = new MongoClient(ep.mongo.url);
  await mongoClient.connect();
  const mongo = mongoClient.db(id);
  await mongo
    .collection<{ _id: number; note: string }>('ordinary')
    .insertOne({ _id: 0, note: 'before start' });
  const indent = (text: string | undefined, n: number) =>
    text
      ? `\n${text
          .trim()
          .split('\n')
          .map((l) => ' '.repeat(n) + l)
          .join('\n')}`
      : '';
  writeFileSync(
    config,
    `kafka:
  brokers: ["${ep.kafka.brokers[0]}"]
  clientId: ${id}
registry:
  url: "${ep.registry.url}"
sources:
  postgres:
    - name: ${id}
      connection: { host: 127.0.0.1, port: ${ep.postgres.port}, database: ${id}, user: cdc, password: cdc }
      publication: ${id}
      slot: ${id}
      offsetsTopic: ${id}.offsets${indent(options.postgresExtra, 6)}
  mongo:
    - name: ${id}_docs
      uri: "${ep.mongo.url}"
      include: ["${id}"]
      offsetsTopic: ${id}.mongo-offsets${indent(options.mongoExtra, 6)}
clickhouse:
  embedded:
    path: ${join(dir, 'clickhouse')}
    http: { port: ${httpPort} }
  database: ${database}
  sink:
    groupId: ${id}-sink
    topics: ["/^${id}(_docs)?\\\\.(?!offsets$|mongo-offsets$|dead-letter$)/"]
    deadLetterTopic: ${id}.sink-dlq
    topicRefreshMs: 1000
    batch: { maxWaitMs: 200 }${indent(options.sinkExtra, 4)}${indent(options.pipelineExtra, 0)}
`,
  );
  const pipeline = loadPipeline(config, process.env);
  let reader: ClickHouseReader | undefined;
  let flowing = 0;

  const cdc = (...args: string[]) => {
    const r = spawnSync(
      process.execPath,
      ['services/cli/dist/main.js', ...args, '--config', config, '--state-dir', stateDir],
      { cwd: ROOT, encoding: 'utf8', timeout: 180_000 },
    );
    return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
  };
  const query = async <T>(sql: string): Promise<T[]> => {
    // Only through the sink's endpoint: opening the embedded directory in this process (what
    // openReader does when the endpoint does not answer yet) would lock the sink out of it.
    if (!reader) {
      const t0 = Date.now();
      while (!(await endpointAnswers(httpPort))) {
        if (Date.now() - t0 > 120_000)
          throw new Error(`the sink's read endpoint on port ${httpPort} did not answer within 120 s`);
        await sleep(500);
      }
      reader = await openReader(pipeline.clickhouse!);
    }
    return reader.query<T>(sql);
  };
  const h: Hostile = {
    id,
    config,
    database,
    sql: (text, params) =>
      withClient(
        new pg.Client({
          host: '127.0.0.1',
          port: ep.postgres.port,
          user: 'cdc',
          password: 'cdc',
          database: id,
        }),
        async (c) => (await c.query(text, params)).rows,
      ),
    superSql: (text, params) => withClient(superuser(id), async (c) => (await c.query(text, params)).rows),
    mongo,
    cdc,
    up() {
      const r = cdc('up');
      expect(r.status, r.out).toBe(0);
      for (const s of ['capture-postgres', 'capture-mongo', 'sink-clickhouse'])
        expect(r.out).toMatch(new RegExp(`${s}: started`));
    },
    down() {
      cdc('down');
    },
    embeddedSql(statements) {
      const path = (pipeline.clickhouse as { embedded: { path: string } }).embedded.path;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', EMBEDDED_SQL], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, CDC_EMBEDDED_PATH: path, CDC_EMBEDDED_SQL: JSON.stringify(statements) },
      });
      expect(r.status, `statements on ${path}:\n${r.stdout}\n${r.stderr}`).toBe(0);
    },
    query,
    async waitRows<T>(sql: string, until: (rows: T[]) => boolean, timeoutMs = 90_000): Promise<T[]> {
      const t0 = Date.now();
      let last: T[] | string = [];
      for (;;) {
        try {
          last = await query<T>(sql);
          if (until(last)) return last;
        } catch (err) {
          last = String(err);
        }
        if (Date.now() - t0 > timeoutMs)
          throw new Error(
            `waited ${timeoutMs / 1000} s for ${sql}; last: ${JSON.stringify(last).slice(0, 2000)}\n` +
              `sink log:\n${h.log('sink-clickhouse').split('\n').slice(-20).join('\n')}`,
          );
        await sleep(500);
      }
    },
    pgTable: (table) => tableNameForTopic(topicFor(id, { db: id, schema: 'public', table })),
    pgTopic: (table) => `${id}.${id}.public.${table}`,
    mongoTopic: (collection) => `${id}_docs.${id}.${collection}`,
    readTopic: (topic) => readTopic(scenarioKafka(id), topic, 30_000),
    async deadLetters() {
      const kafka = scenarioKafka(id);
      const admin = kafka.admin();
      await admin.connect();
      const topics = (await admin.listTopics()).filter(
        (t) => t === `${id}.sink-dlq` || (t.startsWith(id) && t.endsWith('.dead-letter')),
      );
      await admin.disconnect();
      const out: DeadLetter[] = [];
      for (const topic of topics)
        for (const r of await readTopic(kafka, topic, 30_000)) {
          out.push({
            topic,
            // readTopic gives headers as text already, the key in base64 ('' when there is none).
            headers: r.headers,
            key: r.key === '' ? null : Buffer.from(r.key, 'base64').toString('utf8'),
            value: r.value === null ? null : r.value.toString('utf8'),
            size: r.value?.length ?? 0,
          });
        }
      return out;
    },
    log(service) {
      try {
        return readFileSync(join(stateDir, 'logs', `${service}.log`), 'utf8');
      } catch {
        return '';
      }
    },
    async assertFlowing(timeoutMs = 90_000) {
      flowing += 1;
      const n = flowing;
      await h.sql('INSERT INTO public.ordinary VALUES ($1, $2)', [n, `row ${n}`]);
      await mongo
        .collection<{ _id: number; note: string }>('ordinary')
        .insertOne({ _id: n, note: `doc ${n}` });
      await h.waitRows(
        `SELECT id FROM ${database}.${h.pgTable('ordinary')} FINAL WHERE id = ${n}`,
        (r) => r.length === 1,
        timeoutMs,
      );
      const mongoTable = `${id}_docs_${id}_ordinary`;
      await h.waitRows(
        `SELECT _id FROM ${database}.${mongoTable} FINAL WHERE _id = '${n}'`,
        (r) => r.length === 1,
        timeoutMs,
      );
    },
    async close() {
      cdc('down');
      await reader?.close().catch(() => undefined);
      await mongoClient.close().catch(() => undefined);
      await dropAll(id).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/**
 * SecantusDB: a MongoDB-compatible server over WiredTiger, with oplog-backed change streams
 * (resume tokens, `updateLookup`, pre-images, invalidate). Its Python server (`secantusd-py`)
 * from the package index, installed into a virtualenv of its own under `.stack/tools`; data
 * under `.stack/data/mongo/db`, kept across restarts.
 *
 * It advertises itself as the primary of a single-node replica set named `secantus` from its
 * first handshake, so there is no `replSetInitiate` to run: drivers accept change streams at
 * once. Clients connect with `directConnection=true` (see endpoints.ts).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { StackContext } from '../context.ts';
import { HOST } from '../ports.ts';
import type { LocalServer } from '../server.ts';
import { probeMongo } from './mongo/probe.ts';

/** The server release, pinned (a beta: the package publishes only pre-releases). */
export const SECANTUS_VERSION = '0.7.0b3';

/**
 * Its whole dependency closure, pinned, so that a cold install is the same on every machine.
 * Bump them together: `pip install --pre SecantusDB==<new>` in a scratch venv, then `pip freeze`.
 */
const REQUIREMENTS = [
  `SecantusDB==${SECANTUS_VERSION}`,
  'pymongo==4.20.0',
  'dnspython==2.9.2',
  'shapely==2.2.0',
  'numpy==2.4.6',
  's2sphere==0.2.5',
  'future==1.0.0',
  'python-dateutil==4.0.0',
  'tzdata==2026.6',
];

/** Seconds between no-op oplog entries, mongod's default: quiet change streams still advance their resume token. */
const NOOP_HEARTBEAT_SECONDS = 10;
/** A day of oplog (the server's default is an hour), so that a stream resumed after a night still finds its token. */
const OPLOG_RETENTION_SECONDS = 24 * 3600;

function paths(ctx: StackContext) {
  const venv = resolve(ctx.toolsDir, 'secantus-venv');
  const base = ctx.serverDataDir('mongo');
  return {
    venv,
    python: resolve(venv, 'bin', 'python'),
    daemon: resolve(venv, 'bin', 'secantusd-py'),
    marker: resolve(venv, `.installed-${SECANTUS_VERSION}`),
    wheels: resolve(ctx.cacheDir, 'pip', `secantusdb-${SECANTUS_VERSION}`),
    requirements: resolve(ctx.cacheDir, 'pip', `secantusdb-${SECANTUS_VERSION}.txt`),
    base,
    db: resolve(base, 'db'),
    config: resolve(base, 'secantusd.toml'),
  };
}

async function installVenv(ctx: StackContext): Promise<void> {
  const p = paths(ctx);
  rmSync(p.venv, { recursive: true, force: true });
  mkdirSync(p.wheels, { recursive: true });
  writeFileSync(p.requirements, `${REQUIREMENTS.join('\n')}\n`);
  await ctx.run('python3', ['-m', 'venv', p.venv]).catch((err: Error) => {
    throw new Error(
      `${err.message}\nSecantusDB needs Python 3.10 or newer with its venv module on PATH as python3 (Debian: apt-get install python3-venv)`,
    );
  });
  const pip = [p.python, '-m', 'pip', '--disable-pip-version-check', '--no-input'] as const;
  const offline = ['install', '--no-index', '--find-links', p.wheels, '-r', p.requirements];
  // The wheels are kept in the cache: a reinstall (or a new venv) downloads nothing.
  const fromCache = await ctx.run(pip[0], [...pip.slice(1), ...offline]).then(
    () => true,
    () => false,
  );
  if (!fromCache) {
    ctx.log(`downloading SecantusDB ${SECANTUS_VERSION} and its dependencies (first run only)`);
    await ctx.run(pip[0], [...pip.slice(1), 'download', '--dest', p.wheels, '-r', p.requirements]);
    await ctx.run(pip[0], [...pip.slice(1), ...offline]);
  }
  writeFileSync(p.marker, `${REQUIREMENTS.join('\n')}\n`);
}

export const mongo: LocalServer = {
  name: 'mongo',
  description: `SecantusDB ${SECANTUS_VERSION} (MongoDB-compatible, change streams, single-node replica set)`,
  ports: ['mongo'],
  prerequisites: [
    {
      command: 'python3',
      fix: 'install Python 3.10 or newer with its venv module (Debian: apt-get install python3 python3-venv)',
      aptPackage: 'python3-venv',
    },
  ],
  startTimeoutMs: 60_000,

  async install(ctx) {
    const p = paths(ctx);
    if (!existsSync(p.marker) || !existsSync(p.daemon)) await installVenv(ctx);
    mkdirSync(p.db, { recursive: true });
    // An explicit config file turns off the daemon's search of ./secantusd.toml,
    // ~/.secantus/ and /etc/secantus/, so a developer's own file cannot change the stack's server.
    writeFileSync(
      p.config,
      '# Written by the local stack: settings are passed as flags (see infra/local/src/servers/mongo.ts).\n',
    );
  },

  async start(ctx) {
    const p = paths(ctx);
    ctx.spawn(
      'mongo',
      p.daemon,
      [
        '--config',
        p.config,
        '--host',
        HOST,
        '--port',
        String(ctx.port('mongo')),
        '--storage-path',
        p.db,
        '--log-level',
        'INFO',
        '--noop-heartbeat-seconds',
        String(NOOP_HEARTBEAT_SECONDS),
        '--oplog-retention-seconds',
        String(OPLOG_RETENTION_SECONDS),
      ],
      { cwd: p.base, env: { PYTHONUNBUFFERED: '1' } },
    );
  },

  async health(ctx) {
    const url = ctx.endpoints.mongo.url;
    const probe = await probeMongo(url);
    if (probe.setName === undefined)
      throw new Error(
        'SecantusDB answers as a standalone server, so drivers refuse change streams: it must run without --standalone',
      );
    const own = probe.buildInfo.secantusVersion;
    return {
      version: `SecantusDB ${typeof own === 'string' ? own : '?'} (claims MongoDB ${probe.claimedVersion})`,
      connection: url,
      detail: `replica set "${probe.setName}", change streams open`,
    };
  },
};

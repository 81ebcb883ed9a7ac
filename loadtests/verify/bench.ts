/**
 * `cdc verify` at size: a PostgreSQL table of `--rows` rows (default 10 M) and its replica in
 * the embedded ClickHouse engine, in the sink's table shape (ReplacingMergeTree by key, versioned,
 * the `_current` view over FINAL), filled directly (no pipeline). The engine is served by a
 * process of its own through the sink's read endpoint (`startReadServer`), as when the sink
 * runs; verify reaches it the way `cdc verify` does (`openReader`). Measured, each in a child
 * process of its own so that peak RSS is that process's:
 *
 * - `verify`: the range comparison `cdc verify` runs for the table (bucket counts and checksums
 *   computed inside both databases, bisection of what differs), on the identical replica and on
 *   one with three damaged rows (a changed value, a missing row, an extra row), whose keys it
 *   must name;
 * - `reference`: what any comparison must at least do, in the same run: `SELECT count(*)` and
 *   a full scan of the table on both sides (PostgreSQL rows streamed to the client through a
 *   cursor, the ClickHouse view read to the end inside the engine).
 *
 * Reported: wall seconds, rows/s, the ratio reference time / verify time, the peak RSS of the
 * measuring process, CPU seconds per million rows of the measuring process, of the PostgreSQL
 * backend (not its parallel workers: PostgreSQL may aggregate the range sums in parallel) and
 * of the engine's process.
 *
 *   node loadtests/verify/bench.ts [--rows 10000000] [--key int|uuid] [--method ranges|in-memory] [--keep] [--json]
 *   node loadtests/verify/bench.ts --source mongo [--rows 1000000] [--mongo-url URL] [--keep] [--json]
 *
 * `--key uuid`: the same table keyed by its uuid column (random-looking uuids, `md5(id)`), not by
 * the integer: compared by ranges of the key's encoded byte order (split points, see
 * `libs/operate/src/verify/tuple-range-verify.ts`). `--method in-memory` measures instead the
 * comparison such a table had before: every row of both sides read into memory at once.
 *
 * `--source mongo`: the same for a MongoDB collection of `--rows` documents (`{ _id: <int>, name,
 * qty, flag }`, default 1 M) and its replica in the sink's table shape for a MongoDB topic (keyed
 * by `_key_id`, the `_id` as canonical Extended JSON). `verify` is the page comparison `cdc verify`
 * runs for a collection (`compareMongoCollection`: the documents read twice as a cursor, once to
 * widen the capture's inferred schema and once to compare, each page's rows looked up in
 * ClickHouse by key, then ClickHouse's keys paged for rows only it holds); `reference` is
 * `countDocuments` and a full cursor scan of the collection, and the same count and full read of
 * the replica. The server is the stack's MongoDB-compatible one (SecantusDB) unless `--mongo-url`
 * names another; mongo-java-server keeps everything in a small heap (it ran out of memory at
 * 20,000 documents beside other work), so it is no place for this.
 *
 * Needs the local PostgreSQL (`npm run stack -- up --only postgres`) and built packages
 * (`npx tsc -b services/cli`). `--keep` leaves the table and engine directory for another run
 * (reused when they have the same row count).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openReader } from '@cdc/clickhouse';
import { localEndpoints } from '@cdc/local-stack';
import {
  compareMongoCollection,
  compareTable,
  compareTableInMemory,
  compareTableRanges,
  connectMongo,
  connectSource,
  describeTable,
  type MongoTarget,
  Pace,
  replicaColumnTypes,
} from '@cdc/operate';
import type { ClickHouseSection, MongoSource, PostgresSource } from '@cdc/pipeline';
import type { MongoClient } from 'mongodb';
import type pg from 'pg';

const { values } = parseArgs({
  options: {
    rows: { type: 'string' },
    source: { type: 'string', default: 'postgres' },
    key: { type: 'string', default: 'int' },
    method: { type: 'string', default: 'ranges' },
    'mongo-url': { type: 'string' },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    // Internal: one measurement in a child process.
    phase: { type: 'string' },
    port: { type: 'string' },
  },
});
const MONGO = values.source === 'mongo';
if (!MONGO && values.source !== 'postgres')
  throw new Error(`--source is postgres or mongo, not ${JSON.stringify(values.source)}`);
const ROWS = Number(values.rows ?? (MONGO ? 1_000_000 : 10_000_000));
const UUID_KEY = values.key === 'uuid';
if (!UUID_KEY && values.key !== 'int')
  throw new Error(`--key is int or uuid, not ${JSON.stringify(values.key)}`);
if (values.method !== 'ranges' && values.method !== 'in-memory')
  throw new Error(`--method is ranges or in-memory, not ${JSON.stringify(values.method)}`);
const ep = localEndpoints();
const MONGO_URL = values['mongo-url'] ?? ep.mongo.url;
const TABLE = `verify_bench_${UUID_KEY ? 'uuid_' : ''}${ROWS}`;
const DB = 'vbench';
const MONGO_DB = 'cdc_verify_bench';
const DIR = join(tmpdir(), `cdc-verify-bench-${MONGO ? 'mongo-' : UUID_KEY ? 'uuid-' : ''}${ROWS}`);
const CHANGED = Math.floor(ROWS / 3);
const MISSING = Math.floor(ROWS / 2);
const EXTRA = ROWS + 7;
/** The uuid of row `i`: `md5(i)` with `--key uuid` (PostgreSQL `md5(i::text)::uuid`), else sequential. */
function uuidOf(i: number): string {
  const h = UUID_KEY
    ? createHash('md5').update(String(i)).digest('hex')
    : `000000000000400080000${String(i).padStart(11, '0')}`;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
const CH_MD5_UUID =
  "toUUID(concat(substring(lower(hex(MD5(toString(n)))), 1, 8), '-', substring(lower(hex(MD5(toString(n)))), 9, 4), '-', substring(lower(hex(MD5(toString(n)))), 13, 4), '-', substring(lower(hex(MD5(toString(n)))), 17, 4), '-', substring(lower(hex(MD5(toString(n)))), 21, 12)))";
const log = (s: string) => {
  if (!values.json) process.stderr.write(`${s}\n`);
};

const source = {
  name: 'bench',
  connection: {
    host: ep.postgres.host,
    port: ep.postgres.port,
    database: ep.postgres.database,
    user: ep.postgres.user,
    password: ep.postgres.password,
    ssl: false,
  },
} as unknown as PostgresSource;
const section = {
  database: DB,
  embedded: { path: DIR, http: { enabled: true, port: Number(values.port ?? 0) } },
} as unknown as ClickHouseSection;

interface Measured {
  phase: string;
  seconds: number;
  cpuSeconds: number;
  pgCpuSeconds: number | null;
  peakRssMb: number;
  detail: Record<string, unknown>;
}

async function measure(phase: string, work: (client: pg.Client) => Promise<Record<string, unknown>>) {
  const client = await connectSource(source);
  const pid = Number((await client.query<{ p: string }>('SELECT pg_backend_pid()::text AS p')).rows[0]?.p);
  const pg0 = processCpu(pid);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const detail = await work(client);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const pg1 = processCpu(pid);
  await client.end();
  const out: Measured = {
    phase,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    pgCpuSeconds: pg0 === null || pg1 === null ? null : pg1 - pg0,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    detail,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function verifyPhase(client: pg.Client) {
  const reader = await openReader(section);
  try {
    const t = await describeTable(client, 'public', TABLE);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const types = await replicaColumnTypes(reader, DB, TABLE);
    const r =
      values.method === 'in-memory'
        ? await compareTableInMemory('bench', t, TABLE, client, reader, DB)
        : UUID_KEY
          ? await compareTable('bench', t, TABLE, client, reader, DB)
          : await compareTableRanges('bench', t, TABLE, 'id', types, client, reader, DB);
    await client.query('COMMIT');
    return {
      match: r.match,
      method: r.method,
      ranges: r.ranges,
      sourceRows: r.sourceRows,
      clickhouseRows: r.clickhouseRows,
      differing: r.differing,
      keys: r.diffs?.map((d) => d.key),
    };
  } finally {
    await reader.close();
  }
}

async function referencePhase(client: pg.Client) {
  const reader = await openReader(section);
  try {
    const count = (await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${TABLE}`)).rows[0]?.n;
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`DECLARE scan NO SCROLL CURSOR FOR SELECT * FROM ${TABLE}`);
    let scanned = 0;
    for (;;) {
      const { rows } = await client.query({ text: 'FETCH 10000 FROM scan', rowMode: 'array' });
      if (rows.length === 0) break;
      scanned += rows.length;
    }
    await client.query('COMMIT');
    const [c] = await reader.query<{ n: string }>(
      `SELECT toString(count()) AS n FROM ${DB}.${TABLE}_current`,
    );
    // The view read to its end inside the engine (nothing shipped to the client).
    const q = encodeURIComponent(`SELECT * FROM ${DB}.${TABLE}_current FORMAT Null`);
    const r = await fetch(`http://127.0.0.1:${values.port}/?query=${q}`);
    if (!r.ok) throw new Error(await r.text());
    return { sourceRows: Number(count), scanned, clickhouseRows: Number(c?.n) };
  } finally {
    await reader.close();
  }
}

const mongoCollection = {
  db: MONGO_DB,
  collection: TABLE,
  baseTopic: `bench.${MONGO_DB}.${TABLE}`,
  topic: `bench.${MONGO_DB}.${TABLE}`,
  chTable: TABLE,
};

async function withMongo<T>(work: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = await connectMongo({ name: 'bench', uri: MONGO_URL } as MongoSource);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

async function mongoVerifyPhase() {
  const reader = await openReader(section);
  try {
    return await withMongo(async (client) => {
      const x = {
        source: { name: 'bench' } as MongoSource,
        client,
        collections: [mongoCollection],
        report: {} as MongoTarget['report'],
      };
      const r = await compareMongoCollection(x, mongoCollection, undefined, reader, DB, new Pace());
      return {
        match: r.match,
        method: r.method,
        sourceRows: r.sourceRows,
        clickhouseRows: r.clickhouseRows,
        differing: r.differing,
        keys: r.diffs?.map((d) => d.key),
      };
    });
  } finally {
    await reader.close();
  }
}

async function mongoReferencePhase() {
  const reader = await openReader(section);
  try {
    const { count, scanned } = await withMongo(async (client) => {
      const coll = client.db(MONGO_DB).collection(TABLE);
      const count = await coll.countDocuments({});
      let scanned = 0;
      for await (const _ of coll.find({}).batchSize(10_000)) scanned++;
      return { count, scanned };
    });
    const [c] = await reader.query<{ n: string }>(
      `SELECT toString(count()) AS n FROM ${DB}.${TABLE}_current`,
    );
    const q = encodeURIComponent(`SELECT * FROM ${DB}.${TABLE}_current FORMAT Null`);
    const r = await fetch(`http://127.0.0.1:${values.port}/?query=${q}`);
    if (!r.ok) throw new Error(await r.text());
    return { sourceRows: count, scanned, clickhouseRows: Number(c?.n) };
  } finally {
    await reader.close();
  }
}

const mongoDoc = (i: number) => ({
  _id: i,
  name: `item ${i}`,
  qty: i * 3,
  flag: i % 3 === 0 ? null : i % 2 === 0,
});

/** The collection and its replica (as the sink writes a MongoDB topic), unless `--keep` left them. */
async function fillMongo(): Promise<void> {
  const { Session } = await import('chdb');
  const reused = await withMongo(async (client) => {
    const coll = client.db(MONGO_DB).collection<{ _id: number }>(TABLE);
    if ((await coll.countDocuments({})) === ROWS && existsSync(DIR)) return true;
    log(`filling MongoDB ${MONGO_DB}.${TABLE} (${MONGO_URL}) with ${ROWS} documents …`);
    await coll.drop().catch(() => undefined);
    for (let i = 1; i <= ROWS; i += 10_000)
      await coll.insertMany(
        Array.from({ length: Math.min(10_000, ROWS - i + 1) }, (_, j) => mongoDoc(i + j)),
        { ordered: false },
      );
    return false;
  });
  if (reused) {
    log(`reusing ${MONGO_DB}.${TABLE} (${ROWS} documents) and ${DIR}`);
    return;
  }
  log(`filling the embedded ClickHouse ${DB}.${TABLE} in the sink's table shape …`);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const s = new Session(DIR);
  const t = `${DB}.${TABLE}`;
  s.query(`CREATE DATABASE ${DB}`);
  s.query(
    `CREATE TABLE ${DB}._cdc_truncations (table_name String, _version UInt128, _change_id String, _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY (table_name, _version)`,
  );
  // The columns the sink derives from the capture's inferred schema of these documents.
  s.query(
    `CREATE TABLE ${t} (_key_id String, _id String, name Nullable(String), qty Nullable(Int32), flag Nullable(Bool), __cdc_nulls Array(String), _out_of_range Map(String, String), _version UInt128, _is_deleted UInt8, _change_id String, _op String, _source_ts DateTime64(3, 'UTC'), _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (_key_id)`,
  );
  s.query(
    `CREATE VIEW ${t}_current AS SELECT * EXCEPT (_is_deleted) FROM ${t} FINAL WHERE _version > (SELECT max(_version) FROM ${DB}._cdc_truncations WHERE table_name = '${TABLE}')`,
  );
  s.query(
    `INSERT INTO ${t} (_key_id, _id, name, qty, flag, __cdc_nulls, _version, _is_deleted, _change_id, _op) SELECT concat('{"$numberInt":"', toString(n), '"}'), toString(n), concat('item ', toString(n)), n * 3, if(n % 3 = 0, NULL, n % 2 = 0), if(n % 3 = 0, ['flag'], []), toUInt128(n) * 2, 0, '', 'r' FROM (SELECT toInt32(number + 1) AS n FROM numbers(${ROWS}))`,
  );
  s.query(`OPTIMIZE TABLE ${t} FINAL`);
  s.close();
}

async function damageMongo(): Promise<void> {
  const { Session } = await import('chdb');
  const s = new Session(DIR);
  const t = `${DB}.${TABLE}`;
  const key = (i: number) => `'{"$numberInt":"${i}"}'`;
  const flag = CHANGED % 3 === 0 ? 'NULL' : String(CHANGED % 2 === 0);
  const nulls = CHANGED % 3 === 0 ? "['flag']" : '[]';
  s.query(
    `INSERT INTO ${t} (_key_id, _id, name, qty, flag, __cdc_nulls, _version, _is_deleted) VALUES (${key(CHANGED)}, '${CHANGED}', 'damaged', ${CHANGED * 3}, ${flag}, ${nulls}, ${10 * ROWS}, 0)`,
  );
  s.query(
    `INSERT INTO ${t} (_key_id, _id, _version, _is_deleted) VALUES (${key(MISSING)}, '${MISSING}', ${10 * ROWS}, 1)`,
  );
  s.query(
    `INSERT INTO ${t} (_key_id, _id, name, qty, _version, _is_deleted) VALUES (${key(EXTRA)}, '${EXTRA}', 'ghost', 1, 1, 0)`,
  );
  s.close();
}

/** The PostgreSQL table and the replica, unless `--keep` left them from a run of the same size. */
async function fill(): Promise<void> {
  // Loaded only here: the measured processes do not map the engine's library.
  const { Session } = await import('chdb');
  const client = await connectSource(source);
  try {
    const have = await client
      .query<{ n: string }>(`SELECT count(*)::text AS n FROM ${TABLE}`)
      .then((r) => Number(r.rows[0]?.n))
      .catch(() => -1);
    if (have === ROWS && existsSync(DIR)) {
      log(`reusing ${TABLE} (${ROWS} rows) and ${DIR}`);
      return;
    }
    log(`filling PostgreSQL ${TABLE} with ${ROWS} rows …`);
    await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await client.query(
      UUID_KEY
        ? `CREATE TABLE ${TABLE} (id int NOT NULL, name text, qty bigint NOT NULL, flag boolean, u uuid PRIMARY KEY)`
        : `CREATE TABLE ${TABLE} (id int PRIMARY KEY, name text, qty bigint NOT NULL, flag boolean, u uuid NOT NULL)`,
    );
    await client.query(
      `INSERT INTO ${TABLE} SELECT i, 'item ' || i, i * 3, CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END,
         ${UUID_KEY ? 'md5(i::text)::uuid' : "('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid"} FROM generate_series(1, ${ROWS}) i`,
    );
    await client.query(`VACUUM ANALYZE ${TABLE}`);
  } finally {
    await client.end();
  }
  log(`filling the embedded ClickHouse ${DB}.${TABLE} in the sink's table shape …`);
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const s = new Session(DIR);
  const t = `${DB}.${TABLE}`;
  s.query(`CREATE DATABASE ${DB}`);
  // As the sink makes them (services/sink-clickhouse/src/schema/tables.ts).
  s.query(
    `CREATE TABLE ${DB}._cdc_truncations (table_name String, _version UInt128, _change_id String, _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY (table_name, _version)`,
  );
  s.query(
    `CREATE TABLE ${t} (id Int32, name Nullable(String), qty Int64, flag Nullable(Bool), u UUID, _version UInt128, _is_deleted UInt8, _change_id String, _op String, _source_ts DateTime64(3, 'UTC'), _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (${UUID_KEY ? 'u' : 'id'})`,
  );
  s.query(
    `CREATE VIEW ${t}_current AS SELECT * EXCEPT (_is_deleted) FROM ${t} FINAL WHERE _version > (SELECT max(_version) FROM ${DB}._cdc_truncations WHERE table_name = '${TABLE}')`,
  );
  s.query(
    `INSERT INTO ${t} (id, name, qty, flag, u, _version, _is_deleted, _change_id, _op) SELECT n, concat('item ', toString(n)), n * 3, if(n % 3 = 0, NULL, n % 2 = 0), ${UUID_KEY ? CH_MD5_UUID : "toUUID(concat('00000000-0000-4000-8000-', leftPad(toString(n), 12, '0')))"}, toUInt128(n) * 2, 0, '', 'r' FROM (SELECT toInt32(number + 1) AS n FROM numbers(${ROWS}))`,
  );
  s.query(`OPTIMIZE TABLE ${t} FINAL`);
  s.close();
}

async function damage(): Promise<void> {
  const { Session } = await import('chdb');
  const s = new Session(DIR);
  const t = `${DB}.${TABLE}`;
  const uuid = (i: number) => `'${uuidOf(i)}'`;
  const flag = CHANGED % 3 === 0 ? 'NULL' : String(CHANGED % 2 === 0);
  s.query(
    `INSERT INTO ${t} (id, name, qty, flag, u, _version, _is_deleted) VALUES (${CHANGED}, 'damaged', ${CHANGED * 3}, ${flag}, ${uuid(CHANGED)}, ${10 * ROWS}, 0)`,
  );
  s.query(
    `INSERT INTO ${t} (id, name, qty, u, _version, _is_deleted) VALUES (${MISSING}, '', 0, ${uuid(MISSING)}, ${10 * ROWS}, 1)`,
  );
  s.query(
    `INSERT INTO ${t} (id, name, qty, u, _version, _is_deleted) VALUES (${EXTRA}, 'ghost', 1, ${uuid(EXTRA)}, 1, 0)`,
  );
  s.close();
}

/** The engine's process: the directory served read-only over HTTP, as the sink serves it. */
async function enginePhase(): Promise<void> {
  const { startReadServer } = await import('@cdc/sink-clickhouse');
  const { noopLogger } = await import('@cdc/core');
  const server = await startReadServer({ path: DIR, database: DB, port: 0, logger: noopLogger });
  process.stdout.write(`${server.port}\n`);
  process.on('SIGTERM', () => {
    server.close().finally(() => process.exit(0));
  });
}

/** CPU seconds of a process so far (utime + stime from /proc), null if unreadable. */
function processCpu(pid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

async function startEngine(): Promise<{ port: number; cpuSeconds: () => number; stop: () => Promise<void> }> {
  const p = spawn(
    process.execPath,
    [
      import.meta.filename,
      '--phase',
      'engine',
      '--rows',
      String(ROWS),
      '--source',
      values.source,
      '--key',
      String(values.key),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  p.stderr.on('data', (d) => {
    err += String(d);
  });
  const port = await new Promise<number>((resolve, reject) => {
    p.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    p.once('exit', (code) => reject(new Error(`the engine process exited (${code}): ${err}`)));
  });
  return {
    port,
    cpuSeconds: () => processCpu(p.pid as number) ?? 0,
    stop: async () => {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    },
  };
}

let enginePort = 0;
function child(phase: string): Measured {
  const out = execFileSync(
    process.execPath,
    [
      import.meta.filename,
      '--phase',
      phase,
      '--rows',
      String(ROWS),
      '--port',
      String(enginePort),
      '--source',
      values.source,
      '--key',
      String(values.key),
      '--method',
      String(values.method),
      ...(values['mongo-url'] ? ['--mongo-url', values['mongo-url']] : []),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').at(-1) as string) as Measured;
}

if (values.phase === 'verify') await measure('verify', MONGO ? mongoVerifyPhase : verifyPhase);
else if (values.phase === 'reference')
  await measure('reference', MONGO ? mongoReferencePhase : referencePhase);
else if (values.phase === 'engine') await enginePhase();
else {
  await (MONGO ? fillMongo() : fill());
  let engine = await startEngine();
  enginePort = engine.port;
  const timed = (phase: string) => {
    const e0 = engine.cpuSeconds();
    const m = child(phase);
    return { ...m, engineCpuSeconds: engine.cpuSeconds() - e0 };
  };
  const reference = timed('reference');
  log(`reference: ${reference.seconds.toFixed(1)} s, peak RSS ${reference.peakRssMb.toFixed(0)} MB`);
  const clean = timed('verify');
  log(
    `verify (identical): ${clean.seconds.toFixed(1)} s, peak RSS ${clean.peakRssMb.toFixed(0)} MB, ${JSON.stringify(clean.detail)}`,
  );
  // The engine allows one process per directory: stopped while the replica is damaged.
  await engine.stop();
  await (MONGO ? damageMongo() : damage());
  engine = await startEngine();
  enginePort = engine.port;
  const damaged = timed('verify');
  await engine.stop();
  log(
    `verify (3 damaged rows): ${damaged.seconds.toFixed(1)} s, peak RSS ${damaged.peakRssMb.toFixed(0)} MB, ${JSON.stringify(damaged.detail)}`,
  );
  const perM = (cpu: number | null) => (cpu === null ? null : cpu / (ROWS / 1e6));
  const row = (m: Measured & { engineCpuSeconds: number }) => ({
    seconds: Number(m.seconds.toFixed(2)),
    rowsPerSecond: Math.round(ROWS / m.seconds),
    peakRssMb: Math.round(m.peakRssMb),
    cpuSecondsPerMillionRows: Number(perM(m.cpuSeconds)?.toFixed(3)),
    postgresCpuSecondsPerMillionRows:
      m.pgCpuSeconds === null ? null : Number(perM(m.pgCpuSeconds)?.toFixed(3)),
    engineCpuSecondsPerMillionRows: Number(perM(m.engineCpuSeconds)?.toFixed(3)),
    detail: m.detail,
  });
  const report = {
    rows: ROWS,
    reference: row(reference),
    verify: row(clean),
    verifyDamaged: row(damaged),
    speedRatio: Number((reference.seconds / clean.seconds).toFixed(2)),
    speedRatioDamaged: Number((reference.seconds / damaged.seconds).toFixed(2)),
    source: MONGO ? `mongo (${MONGO_URL})` : `postgres, key ${values.key}, method ${values.method}`,
    expectedKeys: UUID_KEY
      ? [CHANGED, MISSING, EXTRA].map(uuidOf).sort()
      : [CHANGED, MISSING, EXTRA]
          .sort((a, b) => a - b)
          .map((k) => (MONGO ? `{"$numberInt":"${k}"}` : String(k))),
  };
  process.stdout.write(`${JSON.stringify(report, null, values.json ? 0 : 2)}\n`);
  if (!values.keep && MONGO) {
    rmSync(DIR, { recursive: true, force: true });
    await withMongo((client) => client.db(MONGO_DB).dropDatabase());
  } else if (!values.keep) {
    rmSync(DIR, { recursive: true, force: true });
    const client = await connectSource(source);
    await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await client.end();
  }
}

/**
 * capture-postgres throughput against PostgreSQL's own tools, measured in the same run:
 *
 * - Streaming: a workload is written while two pgoutput slots, created at the same point,
 *   retain it; `pg_recvlogical` reads one slot (same plugin and options) to /dev/null, then
 *   the capture (the built service as a child process) reads the other into Avro Kafka topics,
 *   committed, until the slot is acknowledged to the end of the workload. Changes per second
 *   of each and the ratio.
 * - Snapshot: a table of `--rows` rows, `COPY … TO STDOUT` (psql, to /dev/null) against the
 *   capture's initial snapshot of it (`snapshot: initial`: chunks of parallel key ranges read
 *   with COPY, one Kafka transaction each, while streaming), timed from the start of the process
 *   to its exit on SIGTERM after the log says the table's last chunk is in (so the figure
 *   includes start-up and shut-down). `--single` measures the one-transaction snapshot
 *   (`snapshot: initial_only`) too, in the same run. `--parallelism N` and `--chunk-rows N` set
 *   `snapshotOptions`; `--transaction-timeout-ms N` sets the Kafka transaction timeout (a
 *   chunked snapshot longer than it still finishes: no window is near it). CPU seconds per 100k
 *   rows are the capture process's user + system time.
 *
 * Peak RSS (VmHWM) of every process, polled from /proc. Everything it makes (slots above all,
 * publications, tables, topics, registry subjects) is dropped at the end.
 *
 *   node loadtests/capture-postgres/bench.ts [--changes 200000] [--tx-rows 10] [--rows 500000]
 *     [--only stream|snapshot] [--single] [--parallelism 2] [--chunk-rows 10000]
 *     [--transaction-timeout-ms N] [--cpu-prof DIR] [--json]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { noopLogger } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, KafkaConfigSchema } from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import pg from 'pg';

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '200000' },
    'tx-rows': { type: 'string', default: '10' },
    rows: { type: 'string', default: '500000' },
    only: { type: 'string' },
    single: { type: 'boolean', default: false },
    parallelism: { type: 'string' },
    'chunk-rows': { type: 'string' },
    'transaction-timeout-ms': { type: 'string' },
    'cpu-prof': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const CHANGES = Number(values.changes);
const TX_ROWS = Number(values['tx-rows']);
const ROWS = Number(values.rows);
const PG_BIN = '/usr/lib/postgresql/15/bin';
const ep = localEndpoints();
const root = resolve(import.meta.dirname, '../..');
const serviceMain = join(root, 'services/capture-postgres/dist/main.js');
const id = `bench_cp_${Date.now().toString(36)}`;
const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const COLUMNS = `id int8 PRIMARY KEY, customer_id int8 NOT NULL, status text NOT NULL, total numeric(12,2) NOT NULL,
  qty int4 NOT NULL, paid bool NOT NULL, created_at timestamptz NOT NULL, note text`;
const ROW_SQL = (g: string) =>
  `${g}, ${g} % 1000, (ARRAY['new','paid','shipped'])[1 + ${g} % 3], (${g} % 100000) / 100.0, ${g} % 7,
   ${g} % 2 = 0, timestamptz '2024-01-01' + ${g} * interval '1 second', CASE WHEN ${g} % 5 = 0 THEN NULL ELSE 'note ' || ${g} END`;

const made = {
  slots: [] as string[],
  publications: [] as string[],
  tables: [] as string[],
  topics: [] as string[],
};

async function connect(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: ep.postgres.url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/**
 * Peak RSS (VmHWM, bytes) and CPU time (user + system, seconds) of a running process, kept up
 * to date every 50 ms until it exits. CPU time is what to compare across runs on a busy machine.
 */
function watchRss(pid: number): { peak: () => number; cpu: () => number; stop: () => void } {
  let peak = 0;
  let cpu = 0;
  const read = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu = Math.max(cpu, (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // exited
    }
  };
  read();
  const timer = setInterval(read, 50);
  return {
    peak: () => {
      read();
      return peak;
    },
    cpu: () => cpu,
    stop: () => clearInterval(timer),
  };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)));

function pipelineFile(source: Record<string, unknown>): string {
  const file = join(tmpdir(), `${id}-${String(source.name)}.pipeline.json`);
  writeFileSync(
    file,
    JSON.stringify({
      kafka: { brokers: ep.kafka.brokers },
      registry: { url: ep.registry.url },
      sources: { postgres: [source] },
      telemetry: { http: { port: 0 } },
    }),
  );
  return file;
}

function captureSource(name: string, table: string, slot: string, publication: string, snapshot: string) {
  const p = ep.postgres;
  const prefix = name;
  made.topics.push(`${prefix}.offsets`, `${prefix}.dead-letter`, `${prefix}.${p.database}.public.${table}`);
  return {
    name,
    connection: { host: p.host, port: p.port, database: p.database, user: p.user, password: p.password },
    publication,
    slot,
    include: [table],
    snapshot,
    offsetsTopic: `${prefix}.offsets`,
  };
}

function spawnCapture(source: Record<string, unknown>, logFile: string, profileTag: string): ChildProcess {
  const out = openSync(logFile, 'a');
  const prof = values['cpu-prof']
    ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof'], '--cpu-prof-name', `${profileTag}.cpuprofile`]
    : [];
  return spawn(process.execPath, [...prof, serviceMain, '--config', pipelineFile(source)], {
    stdio: ['ignore', out, out],
  });
}

async function lsnReached(
  c: pg.Client,
  slot: string,
  end: string,
): Promise<{ active: boolean; reached: boolean }> {
  const r = await c.query<{ active: boolean; reached: boolean }>(
    'SELECT active, confirmed_flush_lsn >= $2::pg_lsn AS reached FROM pg_replication_slots WHERE slot_name = $1',
    [slot, end],
  );
  return r.rows[0] ?? { active: false, reached: false };
}

interface StreamResult {
  changes: number;
  transactions: number;
  walBytes: number;
  recvlogical: { seconds: number; changesPerSecond: number; peakRssMb: number; cpuSeconds: number };
  capture: {
    seconds: number;
    cpuSeconds: number;
    startupSeconds: number;
    changesPerSecond: number;
    peakRssMb: number;
    recordsInKafka: number;
  };
  ratio: number;
}

async function streaming(c: pg.Client): Promise<StreamResult> {
  const table = `${id}_s`;
  const pub = `${id}_pub`;
  const capSlot = `${id}_cap`;
  const refSlot = `${id}_ref`;
  await c.query(`CREATE TABLE ${table} (${COLUMNS})`);
  made.tables.push(table);
  await c.query(`CREATE PUBLICATION ${pub} FOR TABLE ${table}`);
  made.publications.push(pub);
  // Both slots before any change: they retain and decode the same WAL.
  for (const slot of [capSlot, refSlot]) {
    made.slots.push(slot);
    await c.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  }
  const inserts = Math.ceil(CHANGES / 2);
  const updates = CHANGES - inserts;
  log(`streaming: writing ${inserts} inserts + ${updates} updates in transactions of ${TX_ROWS} rows`);
  const startLsn = (await c.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
  await c.query(`DO $$ BEGIN
    FOR b IN 0 .. ${Math.ceil(inserts / TX_ROWS) - 1} LOOP
      INSERT INTO ${table} SELECT ${ROW_SQL('g')} FROM generate_series(b * ${TX_ROWS} + 1, least((b + 1) * ${TX_ROWS}, ${inserts})) g;
      COMMIT;
    END LOOP;
    FOR b IN 0 .. ${Math.ceil(updates / TX_ROWS) - 1} LOOP
      UPDATE ${table} SET status = 'updated', qty = qty + 1 WHERE id > b * ${TX_ROWS} AND id <= least((b + 1) * ${TX_ROWS}, ${updates});
      COMMIT;
    END LOOP;
  END $$`);
  const { rows } = await c.query<{ l: string; bytes: string }>(
    `SELECT pg_current_wal_lsn()::text AS l, pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::int8 AS bytes`,
    [startLsn],
  );
  const endLsn = rows[0]!.l;
  const transactions = Math.ceil(inserts / TX_ROWS) + Math.ceil(updates / TX_ROWS);

  // The reference: pg_recvlogical, same plugin and options, to /dev/null, until the end LSN.
  log('streaming: pg_recvlogical …');
  const p = ep.postgres;
  const t0 = performance.now();
  const ref = spawn(
    join(PG_BIN, 'pg_recvlogical'),
    [
      '-d',
      `host=${p.host} port=${p.port} dbname=${p.database} user=${p.user}`,
      '--slot',
      refSlot,
      '--start',
      '--endpos',
      endLsn,
      '--no-loop',
      '-o',
      'proto_version=1',
      '-o',
      `publication_names=${pub}`,
      '-f',
      '/dev/null',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PGPASSWORD: p.password } },
  );
  const refRss = watchRss(ref.pid!);
  const refCode = await exited(ref);
  const refSeconds = (performance.now() - t0) / 1000;
  refRss.stop();
  if (refCode !== 0) throw new Error(`pg_recvlogical exited with ${refCode}`);

  // The capture, into Kafka, until the slot is acknowledged to the end (acks follow commits).
  log('streaming: capture-postgres …');
  const logFile = join(tmpdir(), `${id}-stream.log`);
  const t1 = performance.now();
  const child = spawnCapture(captureSource(`${id}_st`, table, capSlot, pub, 'never'), logFile, 'stream');
  const rss = watchRss(child.pid!);
  let activeAt = 0;
  let cpuAtStart = 0;
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    const s = await lsnReached(c, capSlot, endLsn);
    if (s.active && activeAt === 0) {
      activeAt = performance.now();
      cpuAtStart = rss.cpu();
    }
    if (s.reached) break;
    if (child.exitCode !== null) throw new Error(`the capture exited with ${child.exitCode}; see ${logFile}`);
    if (Date.now() > deadline)
      throw new Error(`the capture did not reach ${endLsn} in 30 min; see ${logFile}`);
    await sleep(20);
  }
  const done = performance.now();
  const peak = rss.peak();
  const cpuAtEnd = rss.cpu();
  child.kill('SIGTERM');
  await exited(child);
  rss.stop();
  if (activeAt === 0) activeAt = t1;
  const seconds = (done - activeAt) / 1000;
  const recordsInKafka = await topicRecords(`${id}_st.${p.database}.public.${table}`);
  return {
    changes: CHANGES,
    transactions,
    walBytes: Number(rows[0]!.bytes),
    recvlogical: {
      seconds: round(refSeconds),
      changesPerSecond: Math.round(CHANGES / refSeconds),
      peakRssMb: mb(refRss.peak()),
      cpuSeconds: refRss.cpu(),
    },
    capture: {
      seconds: round(seconds),
      cpuSeconds: round(cpuAtEnd - cpuAtStart),
      startupSeconds: round((activeAt - t1) / 1000),
      changesPerSecond: Math.round(CHANGES / seconds),
      peakRssMb: mb(peak),
      recordsInKafka,
    },
    ratio: round(CHANGES / seconds / (CHANGES / refSeconds)),
  };
}

/** Records (data and transaction markers) in a topic: the sum of its partitions' end offsets. */
async function topicRecords(topic: string): Promise<number> {
  const admin = createKafka(KafkaConfigSchema.parse({ brokers: ep.kafka.brokers }), noopLogger).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, o) => n + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}

interface SnapshotRun {
  seconds: number;
  wallSeconds: number;
  rowsPerSecond: number;
  peakRssMb: number;
  cpuSeconds: number;
  cpuSecondsPer100kRows: number;
}

interface SnapshotResult {
  rows: number;
  tableBytes: number;
  copy: { seconds: number; rowsPerSecond: number; peakRssMb: number; cpuSeconds: number };
  /** The chunked snapshot (`snapshot: initial`). */
  capture: SnapshotRun;
  ratio: number;
  /** The one-transaction snapshot (`snapshot: initial_only`), with `--single`. */
  single?: SnapshotRun & { ratio: number };
}

async function snapshot(c: pg.Client): Promise<SnapshotResult> {
  const table = `${id}_snap`;
  const pub = `${id}_snappub`;
  const slot = `${id}_snapslot`;
  log(`snapshot: filling a table of ${ROWS} rows …`);
  await c.query(`CREATE TABLE ${table} (${COLUMNS})`);
  made.tables.push(table);
  await c.query(`INSERT INTO ${table} SELECT ${ROW_SQL('g')} FROM generate_series(1, ${ROWS}) g`);
  await c.query(`VACUUM ANALYZE ${table}`);
  const size = await c.query<{ b: string }>(`SELECT pg_table_size($1)::int8 AS b`, [table]);
  await c.query(`CREATE PUBLICATION ${pub} FOR TABLE ${table}`);
  made.publications.push(pub);
  made.slots.push(slot);

  log('snapshot: COPY … TO STDOUT (psql) …');
  const t0 = performance.now();
  const copy = spawn(
    'psql',
    ['-X', '-q', '-d', ep.postgres.url, '-c', `COPY ${table} TO STDOUT`, '-o', '/dev/null'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const copyRss = watchRss(copy.pid!);
  const copyCode = await exited(copy);
  const copySeconds = (performance.now() - t0) / 1000;
  copyRss.stop();
  if (copyCode !== 0) throw new Error(`psql COPY exited with ${copyCode}`);

  const copyRate = ROWS / copySeconds;
  const snapshotOptions = {
    // The chunked snapshot (resumable, beside the stream); the one-transaction one is --single.
    chunked: true,
    ...(values.parallelism ? { parallelism: Number(values.parallelism) } : {}),
    ...(values['chunk-rows'] ? { chunkRows: Number(values['chunk-rows']) } : {}),
    ...(values['transaction-timeout-ms']
      ? { transactionTimeoutMs: Number(values['transaction-timeout-ms']) }
      : {}),
  };
  let single: SnapshotResult['single'];
  if (values.single) {
    log('snapshot: capture-postgres, one transaction (snapshot: initial_only) …');
    const logFile = join(tmpdir(), `${id}-snapshot-single.log`);
    const t1 = performance.now();
    const child = spawnCapture(
      { ...captureSource(`${id}_s1`, table, `${slot}1`, pub, 'initial_only'), snapshotOptions },
      logFile,
      'snapshot-single',
    );
    made.slots.push(`${slot}1`);
    const rss = watchRss(child.pid!);
    const code = await exited(child);
    const wall = (performance.now() - t1) / 1000;
    rss.stop();
    if (code !== 0) throw new Error(`the capture exited with ${code}; see ${logFile}`);
    const committed = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"snapshot committed"'))
      .map((l) => JSON.parse(l) as { rows: number; seconds: number })
      .at(-1);
    if (!committed || committed.rows !== ROWS)
      throw new Error(`the capture did not report a snapshot of ${ROWS} rows; see ${logFile}`);
    single = {
      ...runFigures(committed.seconds, wall, rss),
      ratio: round(ROWS / committed.seconds / copyRate),
    };
  }

  log('snapshot: capture-postgres, chunked (snapshot: initial) …');
  const logFile = join(tmpdir(), `${id}-snapshot.log`);
  const t1 = performance.now();
  const child = spawnCapture(
    { ...captureSource(`${id}_sn`, table, slot, pub, 'initial'), snapshotOptions },
    logFile,
    'snapshot',
  );
  const rss = watchRss(child.pid!);
  let finished: { rows: number } | undefined;
  while (!finished) {
    if (child.exitCode !== null) throw new Error(`the capture exited with ${child.exitCode}; see ${logFile}`);
    await sleep(100);
    finished = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"snapshot of table finished"'))
      .map((l) => JSON.parse(l) as { rows: number })
      .at(-1);
  }
  // SIGTERM commits the open Kafka transaction (the last chunk) and exits.
  child.kill('SIGTERM');
  const code = await exited(child);
  const wall = (performance.now() - t1) / 1000;
  rss.stop();
  if (code !== 0) throw new Error(`the capture exited with ${code} after SIGTERM; see ${logFile}`);
  if (finished.rows !== ROWS)
    throw new Error(`the capture read ${finished.rows} rows, not ${ROWS}; see ${logFile}`);
  return {
    rows: ROWS,
    tableBytes: Number(size.rows[0]!.b),
    copy: {
      seconds: round(copySeconds),
      rowsPerSecond: Math.round(copyRate),
      peakRssMb: mb(copyRss.peak()),
      cpuSeconds: copyRss.cpu(),
    },
    capture: runFigures(wall, wall, rss),
    ratio: round(ROWS / wall / copyRate),
    ...(single ? { single } : {}),
  };
}

function runFigures(
  seconds: number,
  wall: number,
  rss: { peak: () => number; cpu: () => number },
): SnapshotRun {
  return {
    seconds: round(seconds),
    wallSeconds: round(wall),
    rowsPerSecond: Math.round(ROWS / seconds),
    peakRssMb: mb(rss.peak()),
    cpuSeconds: rss.cpu(),
    cpuSecondsPer100kRows: round((rss.cpu() * 100_000) / ROWS),
  };
}

const round = (x: number) => Number(x.toFixed(3));
const mb = (b: number) => Math.round(b / 1024 / 1024);

async function cleanup(): Promise<void> {
  const c = await connect();
  try {
    for (const slot of made.slots) {
      for (let i = 0; i < 50; i++) {
        const r = await c.query<{ pid: number | null }>(
          'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        if (r.rowCount === 0) break;
        const pid = r.rows[0]!.pid;
        if (pid) await c.query('SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
        else {
          await c.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
        }
        await sleep(100);
      }
    }
    for (const pub of made.publications) await c.query(`DROP PUBLICATION IF EXISTS ${pub}`);
    for (const t of made.tables) await c.query(`DROP TABLE IF EXISTS ${t}`);
  } finally {
    await c.end();
  }
  const admin = createKafka(KafkaConfigSchema.parse({ brokers: ep.kafka.brokers }), noopLogger).admin();
  await admin.connect();
  try {
    await deleteTopicsIfExist(admin, made.topics);
  } finally {
    await admin.disconnect();
  }
  for (const topic of made.topics) {
    for (const subject of [`${topic}-key`, `${topic}-value`]) {
      const u = `${ep.registry.url}/subjects/${encodeURIComponent(subject)}`;
      await fetch(u, { method: 'DELETE' }).catch(() => undefined);
      await fetch(`${u}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
    }
  }
}

execFileSync('npx', ['tsc', '-b', join(root, 'services/capture-postgres')], {
  stdio: ['ignore', 2, 2],
  cwd: root,
});
const c = await connect();
let failed = false;
try {
  const result: Record<string, unknown> = { benchmark: 'capture-postgres', node: process.version };
  if (values.only !== 'snapshot') result.streaming = await streaming(c);
  if (values.only !== 'stream') result.snapshot = await snapshot(c);
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const s = result.streaming as StreamResult | undefined;
    const n = result.snapshot as SnapshotResult | undefined;
    const lines = [`capture-postgres (${process.version})`];
    if (s)
      lines.push(
        `  streaming: ${s.changes.toLocaleString('en')} changes in ${s.transactions.toLocaleString('en')} transactions (${mb(s.walBytes)} MB of WAL)`,
        `    pg_recvlogical → /dev/null:   ${s.recvlogical.changesPerSecond.toLocaleString('en')} changes/s (${s.recvlogical.seconds} s), peak RSS ${s.recvlogical.peakRssMb} MB, CPU ${s.recvlogical.cpuSeconds} s`,
        `    capture → Kafka (committed):  ${s.capture.changesPerSecond.toLocaleString('en')} changes/s (${s.capture.seconds} s after ${s.capture.startupSeconds} s start-up), peak RSS ${s.capture.peakRssMb} MB, CPU ${s.capture.cpuSeconds} s`,
        `    ratio capture / pg_recvlogical: ${s.ratio}`,
      );
    if (n)
      lines.push(
        `  snapshot: ${n.rows.toLocaleString('en')} rows (${mb(n.tableBytes)} MB table)`,
        `    COPY TO STDOUT (psql → /dev/null): ${n.copy.rowsPerSecond.toLocaleString('en')} rows/s (${n.copy.seconds} s), peak RSS ${n.copy.peakRssMb} MB, CPU ${n.copy.cpuSeconds} s`,
        ...(n.single
          ? [
              `    capture, one transaction → Kafka:  ${n.single.rowsPerSecond.toLocaleString('en')} rows/s (${n.single.seconds} s; process ${n.single.wallSeconds} s), peak RSS ${n.single.peakRssMb} MB, CPU ${n.single.cpuSeconds} s (${n.single.cpuSecondsPer100kRows} s per 100k rows), ratio ${n.single.ratio}`,
            ]
          : []),
        `    capture, chunked → Kafka (process start to exit): ${n.capture.rowsPerSecond.toLocaleString('en')} rows/s (${n.capture.seconds} s), peak RSS ${n.capture.peakRssMb} MB, CPU ${n.capture.cpuSeconds} s (${n.capture.cpuSecondsPer100kRows} s per 100k rows)`,
        `    ratio capture / COPY: ${n.ratio}`,
      );
    process.stdout.write(`${lines.join('\n')}\n`);
  }
} catch (err) {
  failed = true;
  log(String(err));
} finally {
  await c.end();
  await cleanup();
}
process.exit(failed ? 1 : 0);

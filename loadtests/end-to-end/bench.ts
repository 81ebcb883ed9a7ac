/**
 * The whole pipeline under a steady load: order changes written into PostgreSQL at `--rate` per
 * second for `--seconds`, through capture-postgres → Kafka → sink-clickhouse (embedded engine),
 * with the processor (the demo's enrichment and revenue per region per minute) on the same
 * topics. See README.md (`end-to-end/`).
 *
 *   node_modules/.bin/node loadtests/end-to-end/bench.ts [--rate 5000 --seconds 300] [--quick] [--json]
 *
 * 1. Creates `customers` (filled) and `orders` tables of its own, a pipeline file of its own
 *    (one source, the two declarations, the sink on this run's topics and a fresh engine
 *    directory) and starts the three services from their `dist/main.js`, as `cdc up` does.
 * 2. Ready: the customers' snapshot rows are in ClickHouse and the processor's group is stable.
 * 3. The writer: one transaction every `--tick-ms` with the changes due (70 % new orders, 30 %
 *    updates of earlier ones); the achieved rate is reported.
 * 4. Latency per change = `_ingested_at` (the sink's insert into ClickHouse, `now64(3)` at the
 *    insert) − `_source_ts` (the PostgreSQL commit time the capture puts in `source.tsMs`), over
 *    every row version of the orders history table.
 * 5. Kept up: after the writer stops, every change is in ClickHouse and the processor's committed
 *    offsets reach the end of the orders topic within `--drain-seconds`.
 * CPU of each stage = user + system seconds of its process (/proc/<pid>/stat) from the writer's
 * start to drained, per 100,000 changes; PostgreSQL's = the writer's backend and the capture's
 * walsender.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { noopLogger } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, KafkaConfigSchema } from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import pg from 'pg';
import { cpuSeconds, peakRssMiB } from '../lib/proc-stats.ts';
import { createTables, type Tables, type WriterReport, writeChanges } from './workload.ts';

const { values } = parseArgs({
  allowNegative: true,
  options: {
    rate: { type: 'string', default: '5000' },
    seconds: { type: 'string' },
    /** 60 s instead of 300 s. */
    quick: { type: 'boolean', default: false },
    'tick-ms': { type: 'string', default: '10' },
    'update-share': { type: 'string', default: '0.3' },
    customers: { type: 'string', default: '5000' },
    /** Kept up = drained within this many seconds after the writer stops. */
    'drain-seconds': { type: 'string', default: '30' },
    /** How long to wait for every change at all before calling the run incomplete. */
    'settle-seconds': { type: 'string', default: '180' },
    'ready-timeout-s': { type: 'string', default: '180' },
    processor: { type: 'boolean', default: true },
    build: { type: 'boolean', default: true },
    /** The services' CDC_LOG_LEVEL. */
    'log-level': { type: 'string', default: 'warn' },
    json: { type: 'boolean', default: false },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds ?? (values.quick ? 60 : 300));
const DRAIN_MS = Number(values['drain-seconds']) * 1000;
const SETTLE_MS = Number(values['settle-seconds']) * 1000;
const READY_MS = Number(values['ready-timeout-s']) * 1000;
const CUSTOMERS = Number(values.customers);
/** The issue's target: p99 under 1 s at 5,000 changes/s for 5 minutes, keeping up. */
const TARGET = { p99Ms: 1000, rate: 5000, seconds: 300 };

const repo = resolve(import.meta.dirname, '../..');
const ep = localEndpoints();
for (const b of ep.kafka.brokers)
  if (!/^(127\.\d+\.\d+\.\d+|localhost):\d+$/.test(b))
    throw new Error(`this benchmark only targets a broker on this machine; ${b} is not one`);
if (!['127.0.0.1', 'localhost'].includes(ep.postgres.host))
  throw new Error(`this benchmark only targets PostgreSQL on this machine; ${ep.postgres.host} is not`);
const run = randomUUID().slice(0, 8);
const id = `e2e_${run}`;
const tables: Tables = { customers: `${id}_customers`, orders: `${id}_orders` };
const topicPrefix = `bench_e2e_${run}`;
const topicOf = (table: string) => `${topicPrefix}.${ep.postgres.database}.public.${table}`;
const topics = {
  customers: topicOf(tables.customers),
  orders: topicOf(tables.orders),
  aggregate: `${topicPrefix}.agg.revenue_by_region_1m`,
};
const applicationId = `bench-e2e-${run}`;
const sinkGroup = `bench-e2e-sink-${run}`;
const database = 'bench_e2e';
const chTable = (topic: string) => topic.replace(/\./g, '_');
const log = (s: string) => {
  if (!values.json) process.stderr.write(`${s}\n`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Service = 'capture-postgres' | 'processor' | 'sink-clickhouse';
const services: Service[] = [
  'capture-postgres',
  'sink-clickhouse',
  ...(values.processor ? ['processor' as const] : []),
];
const children = new Map<Service, ChildProcess>();
const logFile = (s: Service) => `/tmp/bench-e2e-${run}-${s}.log`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

function pipelineFile(dir: string, httpPort: number): string {
  const p = ep.postgres;
  const pipeline = {
    kafka: { brokers: ep.kafka.brokers, clientId: applicationId },
    registry: { url: ep.registry.url },
    sources: {
      postgres: [
        {
          name: id,
          topicPrefix,
          connection: {
            host: p.host,
            port: p.port,
            database: p.database,
            user: p.user,
            password: p.password,
          },
          publication: id,
          slot: id,
          include: [`public.${tables.customers}`, `public.${tables.orders}`],
          snapshot: 'initial',
          offsetsTopic: `${topicPrefix}-offsets`,
        },
      ],
    },
    // The demo's declarations (infra/pipelines/demo.yaml) on this run's topics.
    processing: {
      applicationId,
      stateDir: join(dir, 'processor-state'),
      http: { port: 0 },
      enrich: [
        {
          name: 'orders_with_region',
          from: topics.orders,
          join: [{ table: topics.customers, on: 'customer_id', fields: ['region'] }],
        },
      ],
      aggregate: [
        {
          name: 'revenue_by_region_1m',
          from: 'orders_with_region',
          topic: topics.aggregate,
          groupBy: ['region'],
          window: { type: 'tumbling', size: '1m', grace: '10s' },
          emit: 'on-update',
          aggregations: [
            { name: 'orders', fn: 'count' },
            { name: 'revenue', fn: 'sum', field: 'total', precision: 14, scale: 2 },
          ],
        },
      ],
    },
    // The sink with its defaults (batch, wait), on this run's CDC and aggregate topics.
    clickhouse: {
      embedded: { path: join(dir, 'clickhouse'), http: { port: httpPort } },
      database,
      sink: {
        groupId: sinkGroup,
        topics: [topics.customers, topics.orders, ...(values.processor ? [topics.aggregate] : [])],
        deadLetterTopic: `${topicPrefix}-sink-dlq`,
      },
    },
    telemetry: { http: { port: 0 } },
  };
  const file = join(dir, 'pipeline.json');
  writeFileSync(file, JSON.stringify(pipeline, null, 2));
  return file;
}

function start(service: Service, config: string): void {
  const out = createWriteStream(logFile(service));
  const child = spawn(
    process.execPath,
    [join(repo, `services/${service}/dist/main.js`), '--config', config],
    {
      env: { ...process.env, CDC_LOG_LEVEL: values['log-level'] },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  children.set(service, child);
  log(`${service} started (pid ${child.pid}); log: ${logFile(service)}`);
}

/** Throws naming the first service that exited. */
function checkAlive(): void {
  for (const [s, c] of children)
    if (c.exitCode !== null || c.signalCode !== null)
      throw new Error(`${s} exited (${c.exitCode ?? c.signalCode}); see ${logFile(s)}`);
}

async function stopAll(): Promise<void> {
  await Promise.all(
    [...children.values()].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** A query through the sink's read-only HTTP endpoint over its embedded engine; null if it is not answering yet. */
async function query<T>(port: number, sql: string): Promise<T[] | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/?default_format=JSONEachRow&database=${database}`, {
      method: 'POST',
      body: sql,
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) return null;
    return (await res.text())
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as T);
  } catch {
    return null;
  }
}

async function rowCount(port: number, table: string): Promise<number> {
  const r = await query<{ n: string }>(port, `SELECT count() AS n FROM ${table}`);
  return r ? Number(r[0]?.n ?? 0) : 0;
}

async function main(): Promise<{ result: Record<string, unknown>; problems: string[] }> {
  const problems: string[] = [];
  if (values.build)
    execFileSync('npx', ['tsc', '-b', ...services.map((s) => join(repo, 'services', s))], {
      stdio: ['ignore', 2, 2],
      cwd: repo,
    });
  const dir = await mkdtemp(join(tmpdir(), 'bench-e2e-'));
  const kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: ep.kafka.brokers, clientId: applicationId }),
    noopLogger,
  );
  const admin = kafka.admin();
  await admin.connect();
  const ordersEnds = async () =>
    new Map((await admin.fetchTopicOffsets(topics.orders)).map((e) => [e.partition, Number(e.high)]));
  /** The processor's committed offsets reach `ends` (default: the orders topic's end now). */
  const processorAtEnd = async (ends?: Map<number, number>) => {
    if (!values.processor) return true;
    const at = ends ?? (await ordersEnds());
    const [res] = await admin.fetchOffsets({ groupId: applicationId, topics: [topics.orders] });
    return [...at].every(
      ([p, end]) => end === 0 || Number(res?.partitions.find((x) => x.partition === p)?.offset ?? -1) >= end,
    );
  };
  /** The processor's committed offsets behind the orders topic's end, summed over partitions. */
  const processorLag = async (): Promise<number | null> => {
    if (!values.processor) return null;
    const at = await ordersEnds();
    const [res] = await admin.fetchOffsets({ groupId: applicationId, topics: [topics.orders] });
    let lag = 0;
    for (const [p, end] of at)
      lag += Math.max(
        0,
        end - Math.max(0, Number(res?.partitions.find((x) => x.partition === p)?.offset ?? 0)),
      );
    return lag;
  };
  const newProbe = async () => {
    const c = new pg.Client({ connectionString: ep.postgres.url });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  const db = new pg.Client({ connectionString: ep.postgres.url });
  db.on('error', () => undefined);
  await db.connect();
  const abort = new AbortController();
  try {
    await createTables(db, tables, CUSTOMERS);
    const port = await freePort();
    const config = pipelineFile(dir, port);
    // The capture first: its snapshot creates the topics the others read.
    const readyBy = performance.now() + READY_MS;
    start('capture-postgres', config);
    const snapshotted = async () => {
      const offsets = await admin.fetchTopicOffsets(topics.customers).catch(() => []);
      return offsets.reduce((n, o) => n + Number(o.high), 0) >= CUSTOMERS;
    };
    while (!(await snapshotted())) {
      checkAlive();
      if (performance.now() > readyBy)
        throw new Error(`the capture's snapshot did not finish in ${READY_MS / 1000} s`);
      await sleep(500);
    }
    for (const s of services) if (s !== 'capture-postgres') start(s, config);

    // Ready: the snapshot of customers went through to ClickHouse, the processor's group is stable.
    const history = (topic: string) => `${chTable(topic)}_history`;
    while ((await rowCount(port, history(topics.customers))) < CUSTOMERS) {
      checkAlive();
      if (performance.now() > readyBy)
        throw new Error(`the customers' snapshot did not reach ClickHouse in ${READY_MS / 1000} s`);
      await sleep(500);
    }
    if (values.processor) {
      while (true) {
        checkAlive();
        const [g] = (await admin.describeGroups([applicationId])).groups;
        if (g?.state === 'Stable') break;
        if (performance.now() > readyBy)
          throw new Error(`the processor's group was not stable in ${READY_MS / 1000} s`);
        await sleep(500);
      }
    }
    // Warm-up: one order through every stage, so that creating the orders table in ClickHouse
    // and the processor's first commit on it are not part of the measurement.
    await db.query(
      `INSERT INTO ${tables.orders} (id, customer_id, status, total, created_at, updated_at) VALUES (0, 1, 'warm-up', 1, now(), now())`,
    );
    while ((await rowCount(port, history(topics.orders))) < 1 || !(await processorAtEnd())) {
      checkAlive();
      if (performance.now() > readyBy)
        throw new Error(
          `the warm-up order did not go through in ${READY_MS / 1000} s (in ClickHouse: ${(await rowCount(port, history(topics.orders))) >= 1}, processed: ${await processorAtEnd()})`,
        );
      await sleep(250);
    }
    log(`ready; writing ${RATE} changes/s for ${SECONDS} s`);

    const measured = (await rowCount(port, history(topics.orders))) - 1;
    if (measured !== 0)
      throw new Error(`the orders table holds ${measured} unexpected rows before the writer starts`);
    const pids = {
      'capture-postgres': children.get('capture-postgres')?.pid,
      processor: children.get('processor')?.pid,
      'sink-clickhouse': children.get('sink-clickhouse')?.pid,
    };
    const pgPids = (
      await db.query<{ writer: number; walsender: number | null }>(
        'SELECT pg_backend_pid() AS writer, (SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1) AS walsender',
        [id],
      )
    ).rows[0] as { writer: number; walsender: number | null };
    const cpuNow = () => ({
      ...Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)])),
      'postgres (writer backend + walsender)':
        cpuSeconds(pgPids.writer) + cpuSeconds(pgPids.walsender ?? undefined),
    });
    const cpu0 = cpuNow();
    const writerStartMs = Date.now();
    const t0 = performance.now();
    // The services are checked while the writer runs; a crash stops the writer.
    const watchdog = setInterval(() => {
      try {
        checkAlive();
      } catch (err) {
        problems.push(String((err as Error).message));
        abort.abort();
      }
    }, 500);
    // Where the backlog is, every 10 s: written, not yet acknowledged by the capture (WAL bytes
    // behind the slot's confirmed position, acknowledged after the Kafka commit), in ClickHouse,
    // and the processor's lag (offsets, transaction markers included).
    const progress = { changes: 0 };
    const backlog: {
      second: number;
      written: number;
      captureWalBehindMB: number;
      inClickHouse: number;
      processorLagOffsets: number | null;
    }[] = [];
    const probe = await newProbe();
    let sampling = false;
    const sampler = setInterval(async () => {
      if (sampling) return;
      sampling = true;
      try {
        const second = Math.round((performance.now() - t0) / 1000);
        const written = progress.changes;
        const [wal, inClickHouse, lag] = await Promise.all([
          probe
            .query<{ b: string }>(
              'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::int8 AS b FROM pg_replication_slots WHERE slot_name = $1',
              [id],
            )
            .then((r) => Number(r.rows[0]?.b ?? Number.NaN)),
          rowCount(port, history(topics.orders)).then((n) => n - 1),
          processorLag(),
        ]);
        backlog.push({
          second,
          written,
          captureWalBehindMB: Number((wal / 1e6).toFixed(1)),
          inClickHouse,
          processorLagOffsets: lag,
        });
      } catch {
        // a missed sample
      } finally {
        sampling = false;
      }
    }, 10_000);
    let writer: WriterReport;
    try {
      writer = await writeChanges(
        db,
        tables,
        {
          rate: RATE,
          seconds: SECONDS,
          tickMs: Number(values['tick-ms']),
          updateShare: Number(values['update-share']),
          customers: CUSTOMERS,
        },
        abort.signal,
        progress,
      );
    } finally {
      clearInterval(watchdog);
      clearInterval(sampler);
      await probe.end().catch(() => undefined);
    }
    checkAlive();
    const writerEnd = performance.now();
    const achieved = writer.changes / writer.seconds;
    log(
      `writer: ${writer.changes} changes (${writer.inserts} inserts, ${writer.updates} updates) in ${writer.transactions} transactions, ${writer.seconds.toFixed(1)} s = ${Math.round(achieved)}/s`,
    );
    const atEnd = (await rowCount(port, history(topics.orders))) - 1;
    log(`at the writer's end: ${atEnd} of ${writer.changes} changes in ClickHouse`);

    // Drain: every change in ClickHouse, the processor's offsets at the end of the orders topic.
    const ends = await ordersEnds();
    const processorDone = () => processorAtEnd(ends);
    let sinkDrainedMs = Number.NaN;
    let processorDrainedMs = Number.NaN;
    let inClickHouse = atEnd;
    while (performance.now() - writerEnd < SETTLE_MS) {
      checkAlive();
      if (Number.isNaN(sinkDrainedMs)) {
        inClickHouse = (await rowCount(port, history(topics.orders))) - 1;
        if (inClickHouse >= writer.changes) sinkDrainedMs = performance.now() - writerEnd;
      }
      if (Number.isNaN(processorDrainedMs) && (await processorDone()))
        processorDrainedMs = performance.now() - writerEnd;
      if (!Number.isNaN(sinkDrainedMs) && !Number.isNaN(processorDrainedMs)) break;
      await sleep(250);
    }
    const cpu1 = cpuNow();
    const wall = (performance.now() - t0) / 1000;
    if (Number.isNaN(sinkDrainedMs))
      problems.push(
        `incomplete: ${inClickHouse} of ${writer.changes} changes reached ClickHouse within ${SETTLE_MS / 1000} s of the writer's end`,
      );
    // A processor still behind is a result (not kept up), not a failure: its lag does not touch the latency figures.
    const processorLagAtEnd = values.processor ? await processorLag() : null;

    const [lat] =
      (await query<{ rows: string; p50: number; p99: number; max: number }>(
        port,
        `SELECT count() AS rows, quantileExact(0.5)(l) AS p50, quantileExact(0.99)(l) AS p99, max(l) AS max FROM (
           SELECT toUnixTimestamp64Milli(_ingested_at) - toUnixTimestamp64Milli(_source_ts) AS l
           FROM ${history(topics.orders)} WHERE id > 0)`,
      )) ?? [];
    // The same per 10 s of source commit time: whether latency grew during the run.
    const series =
      (await query<{ s: number; rows: string; p99: number; max: number }>(
        port,
        `SELECT intDiv(toUnixTimestamp64Milli(_source_ts) - ${Math.floor(writerStartMs)}, 10000) * 10 AS s, count() AS rows,
           quantileExact(0.99)(l) AS p99, max(l) AS max FROM (
           SELECT _source_ts, toUnixTimestamp64Milli(_ingested_at) - toUnixTimestamp64Milli(_source_ts) AS l
           FROM ${history(topics.orders)} WHERE id > 0) GROUP BY s ORDER BY s`,
      )) ?? [];
    if (!lat) problems.push('the latency query failed');
    const changes = writer.changes;
    const per100k = (s: number) => Number(((s * 100_000) / changes).toFixed(2));
    const stages = Object.fromEntries(
      Object.entries(cpu1).map(([k, v]) => {
        const used = v - (cpu0 as Record<string, number>)[k]!;
        return [
          k,
          {
            cpuSeconds: Number(used.toFixed(2)),
            cpuSecondsPer100k: per100k(used),
            cores: Number((used / wall).toFixed(2)),
          },
        ];
      }),
    );
    const keptUp = sinkDrainedMs <= DRAIN_MS && (!values.processor || processorDrainedMs <= DRAIN_MS);
    const latency = lat && { rows: Number(lat.rows), p50Ms: lat.p50, p99Ms: lat.p99, maxMs: lat.max };
    const result = {
      benchmark: 'end-to-end',
      node: process.version,
      rate: RATE,
      seconds: SECONDS,
      writer: {
        ...writer,
        achievedRate: Math.round(achieved),
        ratioToTargetRate: Number((achieved / RATE).toFixed(3)),
      },
      latency,
      backlogBy10s: backlog,
      latencyBy10s: series.map((x) => ({
        fromSecond: x.s,
        rows: Number(x.rows),
        p99Ms: x.p99,
        maxMs: x.max,
      })),
      drain: {
        atWriterEnd: atEnd,
        sinkSeconds: Number.isNaN(sinkDrainedMs) ? null : Number((sinkDrainedMs / 1000).toFixed(1)),
        processorSeconds: !values.processor
          ? undefined
          : Number.isNaN(processorDrainedMs)
            ? null
            : Number((processorDrainedMs / 1000).toFixed(1)),
        processorLagAtEnd,
        settleSeconds: SETTLE_MS / 1000,
        boundSeconds: DRAIN_MS / 1000,
      },
      keptUp,
      stages,
      peakRssMiB: Object.fromEntries(
        Object.entries(pids).map(([k, pid]) => [k, Math.round(peakRssMiB(pid))]),
      ),
      target: TARGET,
      p99ToTarget: latency ? Number((latency.p99Ms / TARGET.p99Ms).toFixed(3)) : undefined,
      meetsTarget:
        latency !== undefined &&
        latency.p99Ms < TARGET.p99Ms &&
        keptUp &&
        achieved >= TARGET.rate * 0.98 &&
        SECONDS >= TARGET.seconds,
    };
    return { result, problems };
  } finally {
    abort.abort();
    await stopAll();
    await cleanUp(db, admin).catch((err) => process.stderr.write(`clean-up failed: ${String(err)}\n`));
    await db.end().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

async function cleanUp(
  db: pg.Client,
  admin: ReturnType<ReturnType<typeof createKafka>['admin']>,
): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const r = await db.query<{ pid: number | null }>(
      'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
      [id],
    );
    if (r.rowCount === 0) break;
    const pid = r.rows[0]?.pid;
    if (pid) await db.query('SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
    else await db.query('SELECT pg_drop_replication_slot($1)', [id]).catch(() => undefined);
    await sleep(100);
  }
  await db.query(`DROP PUBLICATION IF EXISTS ${id}`);
  for (const t of Object.values(tables)) await db.query(`DROP TABLE IF EXISTS ${t}`);
  const mine = (await admin.listTopics()).filter(
    (t) => t.startsWith(topicPrefix) || t.startsWith(`${applicationId}-`),
  );
  await deleteTopicsIfExist(admin, mine);
  await admin.deleteGroups([applicationId, sinkGroup]).catch(() => undefined);
  for (const topic of mine) {
    for (const subject of [`${topic}-key`, `${topic}-value`]) {
      const u = `${ep.registry.url}/subjects/${encodeURIComponent(subject)}`;
      await fetch(u, { method: 'DELETE' }).catch(() => undefined);
      await fetch(`${u}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
    }
  }
}

function report(r: Record<string, unknown>): void {
  const x = r as {
    writer: { achievedRate: number; changes: number; seconds: number };
    latency?: { rows: number; p50Ms: number; p99Ms: number; maxMs: number };
    latencyBy10s: { p99Ms: number }[];
    backlogBy10s: {
      second: number;
      written: number;
      captureWalBehindMB: number;
      inClickHouse: number;
      processorLagOffsets: number | null;
    }[];
    drain: {
      sinkSeconds: number | null;
      processorSeconds?: number | null;
      processorLagAtEnd: number | null;
      settleSeconds: number;
      boundSeconds: number;
    };
    keptUp: boolean;
    meetsTarget: boolean;
    stages: Record<string, { cpuSeconds: number; cpuSecondsPer100k: number; cores: number }>;
  };
  const lines = [
    `end-to-end: ${RATE} changes/s asked, ${x.writer.achievedRate}/s written for ${x.writer.seconds.toFixed(0)} s (${x.writer.changes} changes)`,
    x.latency
      ? `  source commit → ClickHouse insert (${x.latency.rows} rows): p50 ${x.latency.p50Ms} ms, p99 ${x.latency.p99Ms} ms, max ${x.latency.maxMs} ms`
      : '  latency: not measured',
    `  p99 per 10 s of the run (ms): ${x.latencyBy10s.map((b) => b.p99Ms).join(', ')}`,
    '  backlog (s: written / capture WAL behind MB / in ClickHouse / processor lag):',
    ...x.backlogBy10s.map(
      (b) =>
        `    ${b.second} s: ${b.written} / ${b.captureWalBehindMB} / ${b.inClickHouse} / ${b.processorLagOffsets ?? '-'}`,
    ),
    `  drained after the writer stopped: sink ${x.drain.sinkSeconds ?? `not within ${x.drain.settleSeconds}`} s, processor ${x.drain.processorSeconds ?? `not within ${x.drain.settleSeconds} s (lag ${x.drain.processorLagAtEnd} offsets)`}${x.drain.processorSeconds === null ? '' : ' s'}; kept up (≤ ${x.drain.boundSeconds} s): ${x.keptUp ? 'yes' : 'NO'}`,
    ...Object.entries(x.stages).map(
      ([k, s]) =>
        `  ${k.padEnd(38)} CPU ${s.cpuSeconds} s = ${s.cpuSecondsPer100k} s per 100k changes, ${s.cores} cores`,
    ),
    `  target (p99 < ${TARGET.p99Ms} ms at ${TARGET.rate}/s for ${TARGET.seconds} s, kept up): ${x.meetsTarget ? 'met' : 'not met'}`,
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

let failed = false;
const onSignal = () => {
  for (const c of children.values()) c.kill('SIGKILL');
  process.exit(130);
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
try {
  const { result, problems } = await main();
  if (!values.json) report(result);
  process.stdout.write(`${JSON.stringify({ ...result, problems })}\n`);
  if (problems.length > 0) {
    failed = true;
    for (const p of problems) process.stderr.write(`end-to-end: ${p}\n`);
  }
} catch (err) {
  failed = true;
  process.stderr.write(`end-to-end failed: ${String((err as Error)?.stack ?? err)}\n`);
}
process.exit(failed ? 1 : 0);

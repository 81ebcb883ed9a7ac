/**
 * sink-clickhouse throughput: rows per second from a filled Avro topic into the embedded
 * ClickHouse engine through the sink (consume, decode, encode, insert with dedup token,
 * history materialized view, commit), beside a bare loop inserting the same rows into the
 * same engine directly (the same tables and materialized view, batches of the same size, rows
 * already encoded as the JSONCompactEachRow lines the sink sends): the engine's own limit,
 * measured in the same run. The engine alone also takes the same rows as JSONEachRow, which the
 * sink sent before (reported beside, not the reference). Swept over a few batch sizes; reports
 * rows/s of each, the ratio, and the peak RSS of each phase. Every
 * measurement runs in a child process of its own on a fresh engine directory (peak RSS is that
 * process's; no background merge of an earlier run competes).
 *
 * Each batch size runs `--rounds` rounds, a sink phase then the engine phases each: both rates
 * swing ±15 % from one run to the next on a shared machine, so the figures are medians (rates:
 * of each side's runs; ratio: of each round's sink/engine pair, measured minutes apart at most),
 * and every round's figures are in the JSON.
 *
 *   node loadtests/sink-clickhouse/bench.ts [--rows 200000] [--batches 2000,5000,20000,50000] [--rounds 5]
 *                                           [--json] [--cpu-prof <dir>]
 *
 * `--cpu-prof <dir>`: each sink phase's process writes a V8 CPU profile per thread (the main
 * thread and each decode worker) into `<dir>`; read one with `loadtests/lib/cpu-profile-summary.ts`.
 *
 * Needs the local Kafka and registry (`npm run stack -- up --only kafka,registry`) and built
 * libraries (`npx tsc -b services/sink-clickhouse`). Cleans up its topic, consumer groups and
 * engine directory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AvroSerde,
  derivePgRowSchema,
  envelopeSchema,
  keySchema,
  type PgRelation,
  type PgType,
  pgKeyFromRow,
  pgRowFromText,
  RegistryClient,
} from '@cdc/avro';
import { EmbeddedTransport } from '@cdc/clickhouse';
import { createJsonLogger, formatLsn, noopLogger, postgresChangeId } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, KafkaConfigSchema } from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import { ClickHouseSinkSchema } from '@cdc/pipeline';
import { ClickHouseSink, TableManager } from '@cdc/sink-clickhouse';
import { Session } from 'chdb';
import { median } from '../lib/median.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    batches: { type: 'string', default: '2000,5000,20000,50000' },
    rounds: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    // Internal: one measurement in a child process of its own (fresh engine, honest peak RSS).
    phase: { type: 'string' },
    topic: { type: 'string' },
    batch: { type: 'string' },
    round: { type: 'string', default: '0' },
    work: { type: 'string' },
  },
});
const ROWS = Number(values.rows);
/**
 * The engine phase's formats: JSONCompactEachRow, which the sink sends (the reference), and
 * JSONEachRow, which it sent until it wrote compact lines (how much faster the engine takes
 * compact lines, in the same run).
 */
const FORMATS = ['JSONCompactEachRow', 'JSONEachRow'] as const;
type Format = (typeof FORMATS)[number];
type Phase = 'sink' | 'engine' | 'engine-keyed';
const BATCHES = values.batches.split(',').map(Number);
const ROUNDS = Number(values.rounds);
/** This phase's round (a fresh engine directory and consumer group each). */
const ROUND = Number(values.round);
const endpoints = localEndpoints();
const run = `${process.pid}_${Date.now().toString(36)}`;
const TOPIC = values.topic ?? `bench.sink.${run}.orders`;
const log = (s: string) => {
  if (!values.json) process.stderr.write(`${s}\n`);
};

const t = (name: string): PgType => ({ oid: 0, schema: 'pg_catalog', name, kind: 'base' });
const col = (name: string, type: string, notNull = false, isKey = false, typmod = -1) => ({
  name,
  type: t(type),
  typmod,
  notNull,
  isKey,
});
/** A 12-column orders table with the types a shop has. */
const relation: PgRelation = {
  schema: 'public',
  name: 'orders',
  columns: [
    col('id', 'int8', true, true),
    col('customer_id', 'int8', true),
    col('status', 'text', true),
    col('currency', 'bpchar', true),
    col('total', 'numeric', true, false, ((12 << 16) | 2) + 4),
    col('quantity', 'int4', true),
    col('paid', 'bool', true),
    col('created_at', 'timestamptz', true),
    col('updated_at', 'timestamptz', true),
    col('region', 'text', true),
    col('tracking_id', 'uuid'),
    col('notes', 'text'),
  ],
};
const STATUSES = ['new', 'paid', 'packed', 'shipped', 'delivered'];
const REGIONS = ['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south'];

/** Fills the topic with ROWS change events (inserts of distinct ids, as a snapshot-then-stream would). */
async function fillTopic(): Promise<void> {
  const rs = derivePgRowSchema(relation);
  const registry = new RegistryClient({ url: endpoints.registry.url });
  const serde = new AvroSerde({ registry });
  const valueWriter = await serde.writerFor(`${TOPIC}-value`, envelopeSchema(TOPIC, rs.row, 'postgresql'));
  const keyWriter = await serde.writerFor(`${TOPIC}-key`, keySchema(TOPIC, rs.keyFields));
  const kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: endpoints.kafka.brokers, clientId: 'bench' }),
    noopLogger,
  );
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let lsn = 0x1_0000_0000n;
  for (let i = 0; i < ROWS; i += 2_000) {
    const messages = [];
    for (let k = i; k < Math.min(ROWS, i + 2_000); k++) {
      lsn += 0x100n;
      const commitLsn = formatLsn(lsn);
      const ts = `2025-01-0${1 + (k % 9)} 1${k % 10}:${String(k % 60).padStart(2, '0')}:00+00`;
      const row = pgRowFromText(rs, [
        String(k + 1),
        String(500_000 + ((k * 31) % 100_000)),
        STATUSES[k % 5]!,
        'EUR',
        `${(k * 7919) % 500_000}.${String(k % 100).padStart(2, '0')}`,
        String(1 + (k % 9)),
        k % 2 ? 't' : 'f',
        ts,
        ts,
        REGIONS[k % 5]!,
        k % 3 ? `6f1c2a9e-3b1d-4a47-9d63-${k.toString(16).padStart(12, '0')}` : null,
        k % 5 === 0 ? 'Leave the parcel with the neighbour if nobody answers.' : null,
      ]);
      const value = {
        before: null,
        after: row,
        source: {
          connector: 'postgresql',
          name: 'bench',
          db: 'shop',
          schema: 'public',
          table: 'orders',
          lsn: commitLsn,
          commitLsn,
          txId: String(k),
          tsMs: 1_735_689_600_000n + BigInt(k),
          snapshot: 'false',
        },
        op: 'c',
        tsMs: 1_735_689_600_000n + BigInt(k),
        changeId: postgresChangeId({ commitLsn, index: 0 }),
      };
      messages.push({ key: keyWriter.encode(pgKeyFromRow(rs, row)), value: valueWriter.encode(value) });
    }
    await producer.send({ topic: TOPIC, acks: -1, messages });
  }
  await producer.disconnect();
}

const kafka = createKafka(
  KafkaConfigSchema.parse({ brokers: endpoints.kafka.brokers, clientId: 'bench-sink' }),
  noopLogger,
);
const table = TOPIC.replace(/\W/g, '_');
/** User + system CPU of this process over the timed part of its phase (the engine's threads included). */
let phaseCpu = { user: 0, system: 0 };
/**
 * The phase process's peak RSS (MB) when its measured work ended: the first sink phase of a run
 * then dumps the table it wrote in both formats for the engine phases (`queryRaw`), which took
 * its process's peak from about 0.7 to 1.2 GB; that is the bench's work, not the sink's.
 */
let phasePeakRssMb = 0;
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

/** Phase `sink`: the sink from the topic's beginning into a fresh engine; writes the rows and DDL for the `engine` phase. */
async function sinkPhase(batch: number, work: string): Promise<number> {
  const dir = join(work, `sink-${batch}-${ROUND}`);
  mkdirSync(dir, { recursive: true });
  const transport = new EmbeddedTransport(dir);
  const registry = new RegistryClient({ url: endpoints.registry.url });
  const options = ClickHouseSinkSchema.parse({
    topics: [TOPIC],
    groupId: `bench-sink-${run}-${batch}-${ROUND}`,
    deadLetterTopic: `${TOPIC}.dlq`,
    batch: { maxRows: batch, maxWaitMs: 500 },
  });
  const tables = new TableManager(transport, 'bench', noopLogger);
  const logger = process.env.BENCH_SINK_LOG ? createJsonLogger({ level: 'info' }) : noopLogger;
  const decodeThreads = process.env.BENCH_DECODE_THREADS
    ? Number(process.env.BENCH_DECODE_THREADS)
    : undefined;
  const sink = new ClickHouseSink({
    kafka,
    registry,
    transport,
    tables,
    options,
    logger,
    ...(decodeThreads === undefined ? {} : { decodeThreads }),
  });
  await sink.start();
  // A flush loop that ended with an error fails the phase (instead of waiting for rows forever).
  let failed: unknown;
  sink.done.catch((err: unknown) => {
    failed = err ?? new Error('the sink stopped');
  });
  const check = () => {
    if (failed !== undefined) throw failed;
  };
  // Timed from the first record fetched (the group join before it is a fixed cost) to the last one committed.
  while (sink.bufferedRecords === 0 && sink.totals.records === 0) {
    check();
    await new Promise((r) => setTimeout(r, 2));
  }
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  while (sink.totals.records < ROWS) {
    check();
    await new Promise((r) => setTimeout(r, 5));
  }
  await sink.committed;
  const seconds = (performance.now() - started) / 1000;
  phaseCpu = process.cpuUsage(cpu0);
  await sink.stop();
  phasePeakRssMb = peakRssMb();
  if (sink.totals.rows !== ROWS) throw new Error(`the sink wrote ${sink.totals.rows} rows of ${ROWS}`);
  if (!existsSync(join(work, 'columns.json'))) {
    // The columns the sink's lines hold: all but the insert time and the out-of-range note (no
    // row of this topic has one).
    const columns = (
      await transport.query<{ name: string }>(
        `SELECT name FROM system.columns WHERE database = 'bench' AND table = '${table}' AND name NOT IN ('_ingested_at', '_out_of_range') ORDER BY position`,
      )
    ).map((c) => c.name);
    for (const format of FORMATS)
      writeFileSync(
        join(work, `rows.${format}`),
        await transport.queryRaw(`SELECT ${columns.join(', ')} FROM bench.${table} ORDER BY id`, format),
      );
    writeFileSync(join(work, 'columns.json'), JSON.stringify(columns));
    const ddl = [];
    for (const t of [table, `${table}_history`])
      ddl.push((await transport.query<{ s: string }>(`SHOW CREATE TABLE bench.${t} FORMAT JSONEachRow`))[0]!);
    writeFileSync(join(work, 'ddl.json'), JSON.stringify(ddl.map((d) => Object.values(d)[0])));
  }
  await transport.close();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups([options.groupId]).catch(() => undefined);
  await admin.disconnect();
  return ROWS / seconds;
}

/**
 * Phase `engine`: the same rows, already encoded in `format`, into the same tables and
 * materialized view of a fresh engine.
 */
async function enginePhase(batch: number, work: string, format: Format): Promise<number> {
  const session = new Session(join(work, `engine-${format}-${batch}-${ROUND}`));
  const q = (sql: string) => session.queryAsync(sql, { format: 'TabSeparated' });
  await q('CREATE DATABASE bench');
  for (const ddl of JSON.parse(readFileSync(join(work, 'ddl.json'), 'utf8')) as string[]) await q(ddl);
  await q(
    `CREATE MATERIALIZED VIEW bench.${table}_history_mv TO bench.${table}_history AS SELECT * FROM bench.${table}`,
  );
  const lines = readFileSync(join(work, `rows.${format}`), 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  if (lines.length !== ROWS) throw new Error(`expected ${ROWS} rows to copy, found ${lines.length}`);
  const payloads: Buffer[] = [];
  for (let i = 0; i < lines.length; i += batch)
    payloads.push(Buffer.from(`${lines.slice(i, i + batch).join('\n')}\n`));
  const columns = JSON.parse(readFileSync(join(work, 'columns.json'), 'utf8')) as string[];
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  for (const [i, values] of payloads.entries())
    await session.insert({
      table: `bench.${table}`,
      values,
      format,
      columns,
      settings: { insert_deduplicate: 1, insert_deduplication_token: `ref-${i}` },
    });
  const rate = ROWS / ((performance.now() - started) / 1000);
  phaseCpu = process.cpuUsage(cpu0);
  phasePeakRssMb = peakRssMb();
  session.close();
  return rate;
}

if (values.phase) {
  const batch = Number(values.batch);
  const work = values.work!;
  const rate =
    values.phase === 'sink'
      ? await sinkPhase(batch, work)
      : await enginePhase(batch, work, values.phase === 'engine' ? 'JSONCompactEachRow' : 'JSONEachRow');
  process.stdout.write(
    `${JSON.stringify({
      rate,
      maxRssMb: phasePeakRssMb,
      cpuSecondsPer100k: ((phaseCpu.user + phaseCpu.system) / 1e6) * (100_000 / ROWS),
    })}\n`,
  );
  process.exit(0);
}

interface PhaseResult {
  rate: number;
  maxRssMb: number;
  cpuSecondsPer100k: number;
}

function child(phase: Phase, batch: number, round: number, work: string): PhaseResult {
  let out: string;
  try {
    out = childOutput(phase, batch, round, work);
  } catch (err) {
    // The engine sometimes crashes in its teardown at exit (SIGSEGV), after the phase printed
    // its whole result: that result stands; anything else fails the run.
    const e = err as { signal?: string; stdout?: string };
    const last = e.stdout?.trim().split('\n').at(-1) ?? '';
    if (e.signal === undefined || e.signal === null || !last.startsWith('{"rate"')) throw err;
    log(`(${phase} phase: crashed with ${e.signal} at exit, after printing its result)`);
    out = last;
  }
  return JSON.parse(out.trim().split('\n').at(-1)!) as PhaseResult;
}

function childOutput(phase: Phase, batch: number, round: number, work: string): string {
  const profile = values['cpu-prof'];
  return execFileSync(
    process.execPath,
    [
      ...(profile !== undefined && phase === 'sink' ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
      import.meta.filename,
      '--phase',
      phase,
      '--topic',
      TOPIC,
      '--rows',
      String(ROWS),
      '--batch',
      String(batch),
      '--round',
      String(round),
      '--work',
      work,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  );
}

interface Result {
  batch: number;
  sinkRowsPerSec: number;
  engineRowsPerSec: number;
  ratio: number;
  sinkPeakRssMb: number;
  enginePeakRssMb: number;
  sinkCpuSecondsPer100k: number;
  engineCpuSecondsPer100k: number;
  /** The engine on the same rows as JSONEachRow (not the reference: the sink sends compact lines). */
  engineJsonEachRowRowsPerSec: number;
  engineJsonEachRowCpuSecondsPer100k: number;
  /** Each round's sink rate, engine rate and their ratio, and the engine's JSONEachRow rate. */
  rounds: {
    sinkRowsPerSec: number;
    engineRowsPerSec: number;
    ratio: number;
    engineJsonEachRowRowsPerSec: number;
  }[];
}

const work = join(endpoints.chdbDir, `bench-${run}`);
mkdirSync(work, { recursive: true });
const results: Result[] = [];
try {
  log(`filling ${TOPIC} with ${ROWS} change events…`);
  const fillStart = performance.now();
  await fillTopic();
  log(`filled in ${((performance.now() - fillStart) / 1000).toFixed(1)} s`);
  for (const batch of BATCHES) {
    const sinks: PhaseResult[] = [];
    const engines: PhaseResult[] = [];
    const keyed: PhaseResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      sinks.push(child('sink', batch, round, work));
      engines.push(child('engine', batch, round, work));
      keyed.push(child('engine-keyed', batch, round, work));
    }
    const rounds = sinks.map((sink, i) => ({
      sinkRowsPerSec: Math.round(sink.rate),
      engineRowsPerSec: Math.round(engines[i]!.rate),
      ratio: Number((sink.rate / engines[i]!.rate).toFixed(3)),
      engineJsonEachRowRowsPerSec: Math.round(keyed[i]!.rate),
    }));
    const r: Result = {
      batch,
      sinkRowsPerSec: Math.round(median(sinks.map((x) => x.rate))),
      engineRowsPerSec: Math.round(median(engines.map((x) => x.rate))),
      ratio: Number(median(rounds.map((x) => x.ratio)).toFixed(3)),
      sinkPeakRssMb: Math.max(...sinks.map((x) => x.maxRssMb)),
      enginePeakRssMb: Math.max(...engines.map((x) => x.maxRssMb)),
      sinkCpuSecondsPer100k: Number(median(sinks.map((x) => x.cpuSecondsPer100k)).toFixed(2)),
      engineCpuSecondsPer100k: Number(median(engines.map((x) => x.cpuSecondsPer100k)).toFixed(2)),
      engineJsonEachRowRowsPerSec: Math.round(median(keyed.map((x) => x.rate))),
      engineJsonEachRowCpuSecondsPer100k: Number(median(keyed.map((x) => x.cpuSecondsPer100k)).toFixed(2)),
      rounds,
    };
    results.push(r);
    log(
      `batch ${String(batch).padStart(6)}: sink ${String(r.sinkRowsPerSec).padStart(7)} rows/s, engine alone (JSONCompactEachRow) ${String(r.engineRowsPerSec).padStart(7)} rows/s, ratio ${r.ratio.toFixed(2)} (rounds ${rounds.map((x) => x.ratio.toFixed(2)).join(' ')}), peak RSS sink ${r.sinkPeakRssMb} MB / engine ${r.enginePeakRssMb} MB, CPU s per 100k sink ${r.sinkCpuSecondsPer100k} / engine ${r.engineCpuSecondsPer100k}; engine alone on JSONEachRow ${r.engineJsonEachRowRowsPerSec} rows/s, ${r.engineJsonEachRowCpuSecondsPer100k} CPU s per 100k`,
    );
  }
} finally {
  const admin = kafka.admin();
  await admin.connect();
  await deleteTopicsIfExist(admin, [TOPIC, `${TOPIC}.dlq`]);
  await admin.disconnect();
  rmSync(work, { recursive: true, force: true });
}
if (values.json) process.stdout.write(`${JSON.stringify({ rows: ROWS, results }, null, 2)}\n`);

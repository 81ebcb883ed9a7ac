/**
 * Scenario test harness: unique names per test, the capture in-process (or as a child process
 * for kill -9), a read_committed consumer that decodes the Avro records, and a cleanup that
 * drops what a test made (slots above all: an abandoned slot retains WAL forever).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { createJsonLogger, type Logger, noopLogger, systemClock } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, type Kafka, KafkaConfigSchema } from '@cdc/kafka';
import { type PostgresSource, PostgresSourceSchema } from '@cdc/pipeline';
import pg from 'pg';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { PostgresCapture } from '../../src/capture.ts';

export const endpoints = localEndpoints();
export const serviceDir = resolve(import.meta.dirname, '../..');

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
}

export async function connectPg(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: endpoints.postgres.url, connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

export function kafkaClient(logger: Logger = noopLogger): Kafka {
  return createKafka(
    KafkaConfigSchema.parse({ brokers: endpoints.kafka.brokers, clientId: 'scenario' }),
    logger,
  );
}

export function testLogger(): Logger {
  return process.env.CDC_TEST_LOG ? createJsonLogger({ level: 'debug' }) : noopLogger;
}

export interface Scenario {
  name: string;
  slot: string;
  publication: string;
  prefix: string;
  offsetsTopic: string;
  source(overrides?: Partial<Record<string, unknown>>): PostgresSource;
  topicOf(table: string): string;
}

export function scenario(label: string): Scenario {
  const name = uniqueName(label);
  const s: Scenario = {
    name,
    slot: `${name}_slot`.toLowerCase(),
    publication: `${name}_pub`,
    prefix: name,
    offsetsTopic: `${name}.offsets`,
    source: (overrides = {}) =>
      PostgresSourceSchema.parse({
        name,
        connection: {
          host: endpoints.postgres.host,
          port: endpoints.postgres.port,
          database: endpoints.postgres.database,
          user: endpoints.postgres.user,
          password: endpoints.postgres.password,
        },
        publication: s.publication,
        slot: s.slot,
        offsetsTopic: s.offsetsTopic,
        heartbeatIntervalMs: 1000,
        ...overrides,
      }),
    topicOf: (table) => `${name}.${endpoints.postgres.database}.public.${table}`,
  };
  return s;
}

/** The capture in this process; `stop()` aborts it and waits for it to finish. */
export function runCapture(
  source: PostgresSource,
  logger: Logger = testLogger(),
  kafka = kafkaClient(logger),
) {
  const admin = kafka.admin();
  const serde = new AvroSerde({ registry: new RegistryClient({ url: endpoints.registry.url }) });
  const stop = new AbortController();
  const capture = new PostgresCapture({ source, kafka, admin, serde, logger, clock: systemClock });
  const running = admin.connect().then(() => capture.run(stop.signal));
  return {
    capture,
    running,
    async stop() {
      stop.abort();
      await running.catch(() => undefined);
      await admin.disconnect();
    },
  };
}

/** The capture as a child process (built dist), for kill -9. */
export function spawnCapture(source: PostgresSource, logFile: string): ChildProcess {
  const file = join(tmpdir(), `${source.name}.pipeline.json`);
  writeFileSync(
    file,
    JSON.stringify({
      kafka: { brokers: endpoints.kafka.brokers },
      registry: { url: endpoints.registry.url },
      sources: { postgres: [source] },
      // An ephemeral port (logged): several captures run at once.
      telemetry: { http: { port: 0 } },
    }),
  );
  const out = openSync(logFile, 'a');
  return spawn(process.execPath, [join(serviceDir, 'dist/main.js'), '--config', file], {
    stdio: ['ignore', out, out],
  });
}

export interface Consumed {
  topic: string;
  partition: number;
  offset: string;
  key: Record<string, unknown> | null;
  value: Envelope;
  headers: Record<string, string>;
}

export interface Envelope {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: Record<string, unknown>;
  op: string;
  changeId: string;
}

/**
 * Reads `topics` from the beginning with read_committed until `expected` records arrived
 * (then `settleMs` more, to catch extras) or `timeoutMs` passed; decodes keys and values.
 */
export async function consume(
  topics: string[],
  options: { expected: number; timeoutMs?: number; settleMs?: number },
): Promise<Consumed[]> {
  const kafka = kafkaClient();
  const serde = new AvroSerde({ registry: new RegistryClient({ url: endpoints.registry.url }) });
  const consumer = kafka.consumer({
    groupId: uniqueName('scenario-reader'),
    readUncommitted: false,
    maxWaitTimeInMs: 200,
  });
  const out: Consumed[] = [];
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(`topics ${topics.join(', ')} exist`, options.timeoutMs ?? 60_000, async () => {
      const have = new Set(await admin.listTopics());
      return topics.every((t) => have.has(t));
    });
  } finally {
    await admin.disconnect();
  }
  await consumer.connect();
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    let reachedAt = 0;
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          out.push({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key ? ((await serde.deserialize(m.key)) as Record<string, unknown>) : null,
            value: (await serde.deserialize(m.value)) as Envelope,
            headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
          });
        }
      },
    });
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      if (out.length >= options.expected) {
        if (reachedAt === 0) reachedAt = Date.now();
        if (Date.now() - reachedAt >= (options.settleMs ?? 1500)) break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await consumer.disconnect();
  }
  return out;
}

export async function waitFor(
  what: string,
  ms: number,
  check: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: still not true after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Drops the slot (ending its walsender), the publication, tables and topics of a scenario. */
export async function cleanup(s: Scenario, tables: string[], topics: string[] = []): Promise<void> {
  const c = await connectPg();
  try {
    await waitFor('slot released', 15_000, async () => {
      const r = await c.query<{ active_pid: number | null }>(
        'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1',
        [s.slot],
      );
      const pid = r.rows[0]?.active_pid;
      if (!pid) return true;
      await c.query('SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
      return false;
    }).catch(() => undefined);
    await c.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
      [s.slot],
    );
    await c.query(`DROP PUBLICATION IF EXISTS "${s.publication}"`);
    for (const t of tables) await c.query(`DROP TABLE IF EXISTS "${t}" CASCADE`);
  } finally {
    await c.end();
  }
  const admin = kafkaClient().admin();
  await admin.connect();
  try {
    await deleteTopicsIfExist(admin, [s.offsetsTopic, `${s.prefix}.dead-letter`, ...topics]);
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the capture streams from its slot. */
export async function waitStreaming(s: Scenario, ms = 60_000): Promise<void> {
  const c = await connectPg();
  try {
    await waitFor(`slot ${s.slot} active`, ms, async () => {
      const r = await c.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [s.slot]);
      return r.rowCount === 1;
    });
  } finally {
    await c.end();
  }
}

/** The slot's lag: WAL it retains beyond its confirmed position, in bytes. */
export async function slotLagBytes(c: pg.Client, slot: string): Promise<number> {
  const r = await c.query<{ lag: string | null }>(
    'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::int8 AS lag FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return Number(r.rows[0]?.lag ?? -1);
}

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A logger that keeps its lines (and prints them with CDC_TEST_LOG set). */
export function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createJsonLogger({
    level: 'info',
    write: (line) => {
      lines.push(JSON.parse(line) as LogLine);
      if (process.env.CDC_TEST_LOG) process.stderr.write(line);
    },
  });
  return { logger, lines };
}

/** The slot's confirmed_flush_lsn as a number (bytes), null when the slot is gone. */
export async function confirmedFlush(c: pg.Client, slot: string): Promise<bigint | null> {
  const r = await c.query<{ lsn: string | null }>(
    `SELECT (confirmed_flush_lsn - '0/0'::pg_lsn)::text AS lsn FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const v = r.rows[0]?.lsn;
  return v == null ? null : BigInt(v.split('.')[0] as string);
}

/**
 * For a table `(id int PRIMARY KEY, seq int)` whose rows are inserted with seq 0 and only ever
 * updated with `seq = seq + 1`: every change id once, and per key (in partition order) a
 * gap-free run of seq values from the first record to the table's final value. The snapshot's
 * read of a key (`op: 'r'`, at most one) is merged with the stream by watermarks: it is the
 * first record, or it repeats the seq of the change before it (so it never changes the replica).
 */
export async function expectSeqRuns(db: pg.Client, table: string, got: Consumed[]): Promise<void> {
  const ids = got.map((r) => r.value.changeId);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dupes.length > 0) throw new Error(`changes written twice: ${dupes.slice(0, 5).join(', ')}`);
  const { rows } = await db.query<{ id: number; seq: number }>(`SELECT id, seq FROM ${table} ORDER BY id`);
  const problems: string[] = [];
  let total = 0;
  for (const { id, seq } of rows) {
    const mine = got
      .filter((r) => r.key?.id === id)
      .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
    total += mine.length;
    if (mine.filter((r) => r.value.op === 'r').length > 1) problems.push(`key ${id}: read twice`);
    const seqs: number[] = [];
    for (const r of mine) {
      const v = r.value.after?.seq as number;
      if (r.value.op === 'r' && seqs.length > 0) {
        if (v !== seqs.at(-1)) problems.push(`key ${id}: read seq ${v} after seq ${seqs.at(-1)}`);
      } else seqs.push(v);
    }
    const first = seqs[0] ?? -1;
    const want = Array.from({ length: seq - first + 1 }, (_, i) => first + i);
    if (new Set(mine.map((r) => r.partition)).size > 1) problems.push(`key ${id}: several partitions`);
    if (JSON.stringify(seqs) !== JSON.stringify(want))
      problems.push(`key ${id}: got seq ${JSON.stringify(seqs)}, want ${JSON.stringify(want)}`);
  }
  if (total !== got.length) problems.push(`${got.length - total} records of keys not in the table`);
  if (problems.length > 0) throw new Error(problems.slice(0, 10).join('\n'));
}

/** Reads `topic` until every row's final seq has arrived (bounded by `ms`). */
export async function consumeUntilFinal(
  db: pg.Client,
  table: string,
  topic: string,
  ms = 120_000,
): Promise<Consumed[]> {
  const { rows } = await db.query<{ id: number; seq: number }>(`SELECT id, seq FROM ${table}`);
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await consume([topic], { expected: rows.length, timeoutMs: 30_000, settleMs: 3000 });
    const done = rows.every(({ id, seq }) => got.some((r) => r.key?.id === id && r.value.after?.seq === seq));
    if (done || Date.now() > deadline) return got;
  }
}

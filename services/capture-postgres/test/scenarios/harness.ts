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
export function runCapture(source: PostgresSource, logger: Logger = testLogger()) {
  const kafka = kafkaClient(logger);
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

/**
 * Test fixtures: CDC topics filled with PostgreSQL-shaped change events (the envelope around
 * `derivePgRowSchema` rows, in the Confluent wire format through the local registry), and a
 * sink running in this process on the embedded engine (one data directory per process: each
 * test uses its own database in it).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  AvroSerde,
  derivePgRowSchema,
  envelopeSchema,
  keySchema,
  type PgRelation,
  type PgRowSchema,
  type PgType,
  pgKeyFromRow,
  pgRowFromText,
  RegistryClient,
} from '@cdc/avro';
import { EmbeddedTransport } from '@cdc/clickhouse';
import { createJsonLogger, formatLsn, noopLogger, postgresChangeId } from '@cdc/core';
import { createKafka, type Kafka, KafkaConfigSchema } from '@cdc/kafka';
import { type ClickHouseSinkOptions, ClickHouseSinkSchema } from '@cdc/pipeline';
import { drainPending } from 'chdb';
import { afterAll } from 'vitest';
import { localEndpoints } from '../../../infra/local/src/endpoints.ts';
import type { KafkaRecord } from '../src/decode.ts';
import { TableManager } from '../src/schema/tables.ts';
import { ClickHouseSink } from '../src/sink.ts';

export const endpoints = localEndpoints();
export const unique = (name: string) => `${name}_${process.pid}_${Date.now().toString(36)}`;

/** A record of topic `t`, partition 0, at `offset`, without key or value: where an item inserted directly comes from. */
export const recordAt = (offset: number): KafkaRecord => ({
  topic: 't',
  partition: 0,
  offset: String(offset),
  key: null,
  value: null,
  timestamp: '0',
});

/** `SINK_TEST_LOG=debug` shows the sink's log lines. */
export const testLogger = process.env.SINK_TEST_LOG
  ? createJsonLogger({ level: process.env.SINK_TEST_LOG as 'debug' })
  : noopLogger;

let kafka: Kafka | undefined;
export function testKafka(): Kafka {
  kafka ??= createKafka(
    KafkaConfigSchema.parse({ brokers: endpoints.kafka.brokers, clientId: 'sink-test' }),
    noopLogger,
  );
  return kafka;
}

export const registry = new RegistryClient({ url: endpoints.registry.url });
export const serde = new AvroSerde({ registry });

/** Removes `sink-<pid>` directories of test processes that are gone (killed before their cleanup ran). */
export function sweepChdbDirs(): void {
  let names: string[] = [];
  try {
    names = readdirSync(endpoints.chdbDir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^sink-(\d+)(?:-|$)/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) removeDir(join(endpoints.chdbDir, name));
  }
}

let embedded: EmbeddedTransport | undefined;
/** This process's embedded engine (the engine allows one data directory per process); removed after the file's tests. */
export function embeddedTransport(): EmbeddedTransport {
  if (!embedded) {
    sweepChdbDirs();
    const dir = join(endpoints.chdbDir, `sink-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    embedded = new EmbeddedTransport(dir);
  }
  return embedded;
}

afterAll(async () => {
  if (!embedded) return;
  const dir = embedded.path;
  await embedded.close();
  embedded = undefined;
  await drainPending();
  removeDir(dir);
});

/** rm -rf, after clearing the immutable flag a fault-injecting test may have left (root ignores permissions, not that flag). */
export function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    spawnSync('chattr', ['-R', '-i', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
}

export const t = (name: string): PgType => ({ oid: 0, schema: 'pg_catalog', name, kind: 'base' });

export function ordersRelation(extra: PgRelation['columns'] = []): PgRelation {
  return {
    schema: 'public',
    name: 'orders',
    columns: [
      { name: 'id', type: t('int8'), typmod: -1, notNull: true, isKey: true },
      { name: 'customer', type: t('text'), typmod: -1, notNull: false, isKey: false },
      { name: 'amount', type: t('numeric'), typmod: ((10 << 16) | 2) + 4, notNull: false, isKey: false },
      { name: 'created', type: t('timestamptz'), typmod: -1, notNull: false, isKey: false },
      ...extra,
    ],
  };
}

/** Produces PostgreSQL-shaped change events for one table, with increasing commit LSNs. */
export class PgTopic {
  readonly topic: string;
  rs: PgRowSchema;
  private lsn = 0x1_0000_0000n;
  /** The value subject (another one to write a schema the registry would refuse under the topic's). */
  valueSubject: string;

  constructor(topic: string, relation: PgRelation) {
    this.topic = topic;
    this.rs = derivePgRowSchema(relation);
    this.valueSubject = `${topic}-value`;
  }

  evolve(relation: PgRelation): void {
    this.rs = derivePgRowSchema(relation);
  }

  /** A change as the capture writes it: key and value in the wire format. */
  async event(
    op: 'r' | 'c' | 'u' | 'd' | 't',
    text: (string | null)[] | null,
    options: { index?: number; sameTx?: boolean } = {},
  ): Promise<{ key: Buffer | null; value: Buffer }> {
    if (!options.sameTx) this.lsn += 0x100n;
    const commitLsn = formatLsn(this.lsn);
    const row = text ? pgRowFromText(this.rs, text) : null;
    const changeId =
      op === 'r' ? `snap-${text?.[0]}` : postgresChangeId({ commitLsn, index: options.index ?? 0 });
    const value = {
      before: op === 'd' ? row : null,
      after: op === 'd' || op === 't' ? null : row,
      source: {
        connector: 'postgresql',
        name: 'shop',
        db: 'cdc',
        schema: 'public',
        table: this.rs.relation.name,
        lsn: commitLsn,
        commitLsn,
        txId: null,
        tsMs: 1_700_000_000_000n,
        snapshot: op === 'r' ? 'true' : 'false',
      },
      op,
      tsMs: 1_700_000_000_000n,
      changeId,
    };
    const env = envelopeSchema(this.topic, this.rs.row, 'postgresql');
    const valueBuf = await serde.serialize(this.valueSubject, env, value);
    const keyBuf = row
      ? await serde.serialize(
          `${this.topic}-key`,
          keySchema(this.topic, this.rs.keyFields),
          pgKeyFromRow(this.rs, row),
        )
      : null;
    return { key: keyBuf, value: valueBuf };
  }
}

export async function produce(
  topic: string,
  messages: { key: Buffer | null; value: Buffer | null; partition?: number }[],
  partitions = 1,
): Promise<void> {
  const k = testKafka();
  const admin = k.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic))
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  const producer = k.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500)
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
  } finally {
    await producer.disconnect();
  }
}

export function sinkOptions(
  topics: string[],
  overrides: Partial<ClickHouseSinkOptions> = {},
): ClickHouseSinkOptions {
  return {
    ...ClickHouseSinkSchema.parse({
      topics,
      groupId: unique('sink'),
      deadLetterTopic: `${topics[0]}.dlq`,
      batch: { maxRows: 5000, maxWaitMs: 200 },
      retry: { initialDelayMs: 100, maxDelayMs: 2000 },
    }),
    ...overrides,
  };
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Runs a sink in this process until it has read `count` records, then stops it. */
export async function runSinkUntil(
  options: ClickHouseSinkOptions,
  database: string,
  count: number,
  tableOptions: ConstructorParameters<typeof TableManager>[3] = {},
): Promise<ClickHouseSink> {
  const transport = embeddedTransport();
  const sink = new ClickHouseSink({
    kafka: testKafka(),
    registry,
    transport,
    tables: new TableManager(transport, database, testLogger, tableOptions),
    options,
    logger: testLogger,
  });
  await sink.start();
  try {
    await until(`${count} records through the sink`, async () => sink.totals.records >= count, 90_000);
  } finally {
    await sink.stop();
  }
  return sink;
}

/**
 * A stream of changes to an orders table with the state they should leave: mostly inserts of
 * new ids, some updates and deletes of live ids (seeded, so a run can be repeated).
 */
export class OrdersLoad {
  readonly pg: PgTopic;
  readonly expected = new Map<number, string>();
  produced = 0;
  private nextId = 1;
  private seed: number;

  constructor(topic: string, seed = 42) {
    this.pg = new PgTopic(topic, ordersRelation());
    this.seed = seed;
  }

  private random(): number {
    this.seed = (this.seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return this.seed / 2 ** 31;
  }

  /** Produces `n` changes (ids in one partition keep their order). */
  async write(n: number, partitions = 1): Promise<void> {
    const messages = [];
    for (let k = 0; k < n; k++) {
      const live = [...this.expected.keys()];
      const r = this.random();
      if (live.length > 10 && r < 0.25) {
        const id = live[Math.floor(this.random() * live.length)]!;
        const customer = `c${id} v${this.produced}`;
        messages.push(await this.pg.event('u', [String(id), customer, '2.00', '2024-03-02 10:00:00+00']));
        this.expected.set(id, customer);
      } else if (live.length > 10 && r < 0.3) {
        const id = live[Math.floor(this.random() * live.length)]!;
        messages.push(await this.pg.event('d', [String(id), null, null, null]));
        this.expected.delete(id);
      } else {
        const id = this.nextId++;
        messages.push(await this.pg.event('c', [String(id), `c${id}`, '1.00', '2024-03-01 10:00:00+00']));
        this.expected.set(id, `c${id}`);
      }
    }
    await produce(this.pg.topic, messages, partitions);
    this.produced += n;
  }

  /** The expected current state, ordered by id. */
  rows(): { id: number; customer: string }[] {
    return [...this.expected].sort((a, b) => a[0] - b[0]).map(([id, customer]) => ({ id, customer }));
  }
}

/** The group's committed offset per partition of `topic` ("-1": none yet). */
export async function committedOffsets(groupId: string, topic: string): Promise<string[]> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (t?.partitions ?? []).sort((a, b) => a.partition - b.partition).map((p) => p.offset);
  } finally {
    await admin.disconnect();
  }
}

/** How many records a topic holds (sum of high watermarks). */
export async function topicSize(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
    return offsets.reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

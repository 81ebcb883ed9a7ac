import { randomUUID } from 'node:crypto';
import {
  AvroSerde,
  derivePgRowSchema,
  envelopeSchema,
  keySchema,
  type PgColumn,
  type PgRowSchema,
  pgKeyFromRow,
  pgRowFromText,
  RegistryClient,
} from '@cdc/avro';
import { createJsonLogger, type Logger, noopLogger } from '@cdc/core';
import {
  createIdempotentProducer,
  createKafka,
  type IdempotentProducer,
  type Kafka,
  KafkaConfigSchema,
} from '@cdc/kafka';
import { localEndpoints } from '../../../infra/local/src/endpoints.ts';

export const endpoints = localEndpoints();

export function runId(): string {
  return randomUUID().slice(0, 8);
}

export function localKafka(clientId: string): Kafka {
  return createKafka(KafkaConfigSchema.parse({ brokers: endpoints.kafka.brokers, clientId }), noopLogger);
}

export function localRegistry(): RegistryClient {
  return new RegistryClient({ url: endpoints.registry.url });
}

/** Quiet unless PROCESSOR_IT_LOG=1. */
export function testLogger(): Logger {
  return process.env.PROCESSOR_IT_LOG === '1' ? createJsonLogger({ level: 'info' }) : noopLogger;
}

const T = {
  int4: { oid: 23, schema: 'pg_catalog', name: 'int4', kind: 'base' as const },
  text: { oid: 25, schema: 'pg_catalog', name: 'text', kind: 'base' as const },
  numeric: { oid: 1700, schema: 'pg_catalog', name: 'numeric', kind: 'base' as const },
  timestamptz: { oid: 1184, schema: 'pg_catalog', name: 'timestamptz', kind: 'base' as const },
};

function col(name: string, type: keyof typeof T, isKey = false, typmod = -1): PgColumn {
  return { name, type: T[type], typmod, notNull: isKey, isKey };
}

/** The shop tables as the capture would describe them (numeric(12,2): typmod (12 << 16 | 2) + 4). */
export function shopRelations(schema: string): Record<'customers' | 'products' | 'orders', PgRowSchema> {
  return {
    customers: derivePgRowSchema({
      schema,
      name: 'customers',
      columns: [col('id', 'int4', true), col('region', 'text'), col('tier', 'text')],
    }),
    products: derivePgRowSchema({
      schema,
      name: 'products',
      columns: [col('id', 'int4', true), col('name', 'text')],
    }),
    orders: derivePgRowSchema({
      schema,
      name: 'orders',
      columns: [
        col('id', 'int4', true),
        col('customer_id', 'int4'),
        col('product_id', 'int4'),
        col('amount', 'numeric', false, ((12 << 16) | 2) + 4),
        col('placed_at', 'timestamptz'),
        col('status', 'text'),
      ],
    }),
  };
}

export const SHOP_DDL = (schema: string) => `
  CREATE SCHEMA ${schema};
  CREATE TABLE ${schema}.customers (id int PRIMARY KEY, region text, tier text);
  CREATE TABLE ${schema}.products (id int PRIMARY KEY, name text);
  CREATE TABLE ${schema}.orders (id int PRIMARY KEY, customer_id int, product_id int, amount numeric(12,2),
    placed_at timestamptz, status text);`;

/**
 * Writes PostgreSQL-shaped CDC events (Avro, Confluent wire format) the way capture-postgres
 * does: key = the primary key record, value = the envelope; `before` is null for updates
 * (REPLICA IDENTITY DEFAULT), so retractions must come from the processor's own state.
 */
export class CdcWriter {
  private readonly serde: AvroSerde;
  private readonly kafka: Kafka;
  private producer: IdempotentProducer | undefined;
  private lsn = 0;

  constructor(kafka: Kafka, registry: RegistryClient) {
    this.kafka = kafka;
    this.serde = new AvroSerde({ registry });
  }

  async connect(): Promise<void> {
    this.producer = createIdempotentProducer(this.kafka);
    await this.producer.connect();
  }

  async encode(
    topic: string,
    rs: PgRowSchema,
    op: 'r' | 'c' | 'u' | 'd',
    text: Record<string, string | null>,
    tsMs: number,
  ): Promise<{ key: Buffer; value: Buffer; timestamp: string }> {
    const row = pgRowFromText(
      rs,
      rs.columns.map((c) => text[c.column.name] ?? null),
    );
    const lsn = `0/${(++this.lsn).toString(16).toUpperCase()}`;
    const envelope = {
      before: null,
      after: op === 'd' ? null : row,
      source: {
        connector: 'postgresql',
        name: 'it',
        db: 'cdc',
        schema: rs.relation.schema,
        table: rs.relation.name,
        lsn,
        commitLsn: lsn,
        txId: null,
        tsMs: BigInt(tsMs),
        snapshot: op === 'r' ? 'true' : 'false',
      },
      op,
      tsMs: BigInt(Date.now()),
      changeId: `${topic}:${lsn}`,
    };
    const key = await this.serde.serialize(
      `${topic}-key`,
      keySchema(topic, rs.keyFields),
      pgKeyFromRow(rs, row),
    );
    const value = await this.serde.serialize(
      `${topic}-value`,
      envelopeSchema(topic, rs.row, 'postgresql'),
      envelope,
    );
    return { key, value, timestamp: String(tsMs) };
  }

  async send(topic: string, messages: { key: Buffer; value: Buffer; timestamp: string }[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 500)
      await this.producer?.send({ topic, messages: messages.slice(i, i + 500) });
  }

  async close(): Promise<void> {
    await this.producer?.disconnect();
  }
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Whether a consumer group has committed everything written to `topics`: the end of each
 * partition, less one for a transactional topic (its last offset is a commit marker).
 */
export async function drained(
  kafka: Kafka,
  groupId: string,
  topics: { topic: string; transactional: boolean }[],
): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const { topic, transactional } of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      for (const end of ends) {
        const high = Number(end.high);
        if (high === 0) continue;
        const c = Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
        if (c < (transactional ? high - 1 : high)) return false;
      }
    }
    return true;
  } finally {
    await admin.disconnect();
  }
}

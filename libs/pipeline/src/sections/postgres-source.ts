import { z } from 'zod';
import { MaxRecordBytesSchema } from './record-size.ts';
import { checkTransforms, TransformsSchema } from './transforms.ts';

/** One PostgreSQL database to capture (owned by services/capture-postgres). */
export const PostgresSourceSchema = z
  .strictObject({
    /** The capture's logical name: the topic prefix and the key of its stored positions. */
    name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (it is part of topic names)'),
    connection: z.strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().positive().default(5432),
      database: z.string().min(1),
      user: z.string().min(1),
      password: z.string().optional(),
      ssl: z
        .union([
          z.boolean(),
          z.strictObject({ ca: z.string().optional(), rejectUnauthorized: z.boolean().default(true) }),
        ])
        .default(false),
    }),
    publication: z.string().default('cdc'),
    slot: z
      .string()
      .regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _ only (PostgreSQL slot names)')
      .default('cdc'),
    /** Tables as `schema.table`; empty means every table of the database. */
    include: z.array(z.string()).default([]),
    snapshot: z.enum(['initial', 'never', 'when_needed', 'initial_only']).default('initial'),
    /** Topics are `<topicPrefix>.<db>.<schema>.<table>` (default: the name). */
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .optional(),
    /** The compacted topic holding the capture's committed source position. */
    offsetsTopic: z.string().default('cdc.offsets'),
    /** Partitions of the table topics the capture creates. */
    topicPartitions: z.number().int().positive().default(3),
    /**
     * The value layout of the table topics: `cdc` (this product's envelope: `changeId`, `tsMs`,
     * LSNs as X/Y text) or `debezium` (Debezium's: `ts_ms`, `source.lsn` and `source.txId` as
     * numbers, `transaction`, no `changeId`), so that tools built for Debezium read the topics.
     * The sink reads both. Choose before the first run: a topic keeps its layout's schema.
     */
    envelope: z.enum(['cdc', 'debezium']).default('cdc'),
    /**
     * What to do when the registry rejects a table's new schema (a narrowing or incompatible
     * change, e.g. text → int; see docs/schema-evolution.md): `stop` the capture with an error
     * naming the table, the column, the change and the fix; `recreate`: register the new
     * schema under the same subject anyway and read the whole table again into the same topic
     * (pair it with `clickhouse.sink.onIncompatibleSchema: recreate`, which moves the old table
     * aside as `<t>__before_<schema id>`); `new-topic-version`: continue on `<topic>.v2`, a
     * second ClickHouse table (the former default).
     */
    schemaEvolution: z.enum(['stop', 'recreate', 'new-topic-version']).default('stop'),
    /** At most this many changes per Kafka transaction: larger source transactions are chunked. */
    maxChangesPerTransaction: z.number().int().positive().default(10_000),
    /**
     * A change whose Avro record is larger is dead-lettered naming its table, key, size and this
     * limit (default 64 MiB, at most 96 MiB); the topics get `max.message.bytes` to match.
     */
    maxRecordBytes: MaxRecordBytesSchema,
    /** How often the capture reports its position to PostgreSQL and acknowledges idle WAL. */
    heartbeatIntervalMs: z.number().int().positive().default(10_000),
    /** Capture `pg_logical_emit_message` messages into `<topicPrefix>.messages`. */
    messages: z.boolean().default(false),
    snapshotOptions: z
      .strictObject({
        /** Tables read at the same time (each on its own connection). */
        parallelism: z.number().int().positive().default(2),
        /** Rows per read (keyset pagination by primary key). */
        chunkRows: z.number().int().positive().default(10_000),
        /** Rows per chunk of an incremental snapshot (a table added to the include list later). */
        incrementalChunkRows: z.number().int().positive().default(1_024),
        /** The snapshot is one Kafka transaction: it must finish within this (≤ the broker's transaction.max.timeout.ms). */
        transactionTimeoutMs: z.number().int().positive().default(900_000),
      })
      .prefault({}),
    ...TransformsSchema,
  })
  .superRefine(checkTransforms);
export type PostgresSource = z.output<typeof PostgresSourceSchema>;

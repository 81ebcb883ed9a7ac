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
    /** What to do when the registry rejects a table's new schema. */
    schemaEvolution: z.enum(['stop', 'new-topic-version']).default('new-topic-version'),
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
        /**
         * Readers of the initial snapshot, each on its own connection: a window of a keyed table
         * is this many key ranges read at the same time with COPY (and keyless tables are read
         * this many at a time).
         */
        parallelism: z.number().int().positive().default(2),
        /**
         * Rows per key range of the initial snapshot (a window is `parallelism` ranges, written
         * in one Kafka transaction with its progress); rows per cursor read of a keyless table.
         */
        chunkRows: z.number().int().positive().default(10_000),
        /** Rows per chunk of an incremental snapshot (a table added to the include list later). */
        incrementalChunkRows: z.number().int().positive().default(1_024),
        /**
         * The Kafka transaction timeout (≤ the broker's transaction.max.timeout.ms). The snapshot
         * of tables without a key (and every table with `snapshot: initial_only`) is one Kafka
         * transaction that must finish within it; keyed tables are chunked and have no such limit.
         */
        transactionTimeoutMs: z.number().int().positive().default(900_000),
      })
      .prefault({}),
    ...TransformsSchema,
  })
  .superRefine(checkTransforms);
export type PostgresSource = z.output<typeof PostgresSourceSchema>;

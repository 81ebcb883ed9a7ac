import { DEFAULT_OFFSETS_TOPIC } from '@cdc/core';
import { z } from 'zod';
import { MaxRecordBytesSchema } from './record-size.ts';
import { checkTransforms, TransformsSchema } from './transforms.ts';

/** One PostgreSQL database to capture (owned by services/capture-postgres). */
export const PostgresSourceSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (it is part of topic names)')
      .meta({
        description: "The capture's logical name: the topic prefix and the key of its stored positions.",
      }),
    connection: z
      .strictObject({
        host: z.string().default('127.0.0.1').meta({ description: 'The database host.' }),
        port: z.number().int().positive().default(5432).meta({ description: 'The database port.' }),
        database: z.string().min(1).meta({ description: 'The database to capture.' }),
        user: z.string().min(1).meta({
          description: 'The user the capture connects as (REPLICATION, and SELECT on the captured tables).',
        }),
        password: z
          .string()
          .optional()
          .meta({ description: "The user's password: a secret (use `${VAR}`), never logged." }),
        ssl: z
          .union([
            z.boolean(),
            z.strictObject({
              ca: z
                .string()
                .optional()
                .meta({ description: "PEM of the CA that signed the server's certificate." }),
              rejectUnauthorized: z.boolean().default(true).meta({
                description:
                  'Refuse a server certificate that the CA does not vouch for; turn off only to test.',
              }),
            }),
          ])
          .default(false)
          .meta({
            description: 'TLS to the database: `true` to require it, or the CA to verify the server with.',
          }),
      })
      .meta({
        description: 'How the capture connects to the database; its user needs the REPLICATION attribute.',
      }),
    publication: z.string().default('cdc').meta({
      description: 'The publication the capture reads (created for the included tables when missing).',
    }),
    slot: z
      .string()
      .regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _ only (PostgreSQL slot names)')
      .default('cdc')
      .meta({
        description: 'The logical replication slot that keeps the WAL the capture has not confirmed yet.',
      }),
    include: z
      .array(z.string())
      .default([])
      .meta({ description: 'Tables as `schema.table`; empty means every table of the database.' }),
    snapshot: z.enum(['initial', 'never', 'when_needed', 'initial_only']).default('initial').meta({
      description:
        '`initial`: snapshot the tables when no position is stored, then stream; `never`: stream from now on; `when_needed`: as `initial`, and again when the stored position is gone from the slot; `initial_only`: snapshot and stop.',
    }),
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .optional()
      .meta({ description: 'Topics are `<topicPrefix>.<db>.<schema>.<table>` (default: the name).' }),
    offsetsTopic: z
      .string()
      .default(DEFAULT_OFFSETS_TOPIC)
      .meta({ description: "The compacted topic holding the capture's committed source position." }),
    topicPartitions: z
      .number()
      .int()
      .positive()
      .default(3)
      .meta({ description: 'Partitions of the table topics the capture creates.' }),
    envelope: z.enum(['cdc', 'debezium']).default('cdc').meta({
      description:
        "The value layout of the table topics: `cdc` (this product's envelope: `changeId`, `tsMs`, LSNs as X/Y text) or `debezium` (Debezium's: `ts_ms`, `source.lsn` and `source.txId` as numbers, `transaction`, no `changeId`), so that tools built for Debezium read the topics. The sink reads both. Choose before the first run: a topic keeps its layout's schema.",
    }),
    schemaEvolution: z.enum(['stop', 'recreate', 'new-topic-version']).default('stop').meta({
      description:
        "What to do when the registry rejects a table's new schema (a narrowing or incompatible change, e.g. text → int; see docs/schema-evolution.md): `stop` the capture with an error naming the table, the column, the change and the fix; `recreate`: register the new schema under the same subject anyway and read the whole table again into the same topic (pair it with `clickhouse.sink.onIncompatibleSchema: recreate`, which moves the old table aside as `<t>__before_<schema id>`); `new-topic-version`: continue on `<topic>.v2`, a second ClickHouse table (the former default).",
    }),
    maxChangesPerTransaction: z.number().int().positive().default(10_000).meta({
      description: 'At most this many changes per Kafka transaction: larger source transactions are chunked.',
    }),
    maxRecordBytes: MaxRecordBytesSchema.meta({
      description:
        'A change whose Avro record is larger is dead-lettered naming its table, key, size and this limit (default 64 MiB, at most 96 MiB); the topics get `max.message.bytes` to match.',
    }),
    heartbeatIntervalMs: z.number().int().positive().default(10_000).meta({
      description: 'How often the capture reports its position to PostgreSQL and acknowledges idle WAL.',
    }),
    messages: z
      .boolean()
      .default(false)
      .meta({ description: 'Capture `pg_logical_emit_message` messages into `<topicPrefix>.messages`.' }),
    snapshotOptions: z
      .strictObject({
        chunked: z.boolean().default(false).meta({
          description:
            "Read keyed tables of the initial snapshot in windows beside the stream, each window in its own Kafka transaction with its progress: resumable after a crash, no limit from the transaction timeout, first rows downstream within seconds. The price: one table's streamed changes may reach consumers before another table's snapshot rows, so a processor's stream-table join (which sees the table as it is at lookup time) can enrich early changes with a table row that is not there yet. Off: the whole snapshot is one transaction at the slot's consistent point, before any streamed change.",
        }),
        parallelism: z.number().int().positive().default(2).meta({
          description:
            'Readers of the initial snapshot, each on its own connection: a window of a keyed table is this many key ranges read at the same time with COPY (and keyless tables are read this many at a time).',
        }),
        chunkRows: z.number().int().positive().default(10_000).meta({
          description:
            'Rows per key range of the initial snapshot (a window is `parallelism` ranges, written in one Kafka transaction with its progress); rows per cursor read of a keyless table.',
        }),
        incrementalChunkRows: z.number().int().positive().default(1_024).meta({
          description: 'Rows per chunk of an incremental snapshot (a table added to the include list later).',
        }),
        transactionTimeoutMs: z.number().int().positive().default(900_000).meta({
          description:
            "The Kafka transaction timeout (≤ the broker's transaction.max.timeout.ms). The snapshot of tables without a key (and every table with `snapshot: initial_only`) is one Kafka transaction that must finish within it; keyed tables are chunked and have no such limit.",
        }),
      })
      .prefault({})
      .meta({ description: 'How the initial and incremental snapshots read the tables.' }),
    ...TransformsSchema,
  })
  .superRefine(checkTransforms);
export type PostgresSource = z.output<typeof PostgresSourceSchema>;

/**
 * The session settings every connection of the product uses: the capture's snapshot and
 * pgoutput print values with them (the Avro conversion reads that text), and `verify` reads
 * with them so that both sides see the same text for every value.
 */
export const POSTGRES_SESSION_OPTIONS =
  '-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c timezone=UTC';

/** What a `pg` client needs to reach a source: `cdc-<purpose>-<source>` is its application name. */
export function postgresClientConfig(
  source: PostgresSource,
  purpose: 'capture' | 'verify' | 'replay',
): {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  ssl: PostgresSource['connection']['ssl'];
  connectionTimeoutMillis: number;
  options: string;
  application_name: string;
} {
  const c = source.connection;
  return {
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    ...(c.password === undefined ? {} : { password: c.password }),
    ssl: c.ssl,
    connectionTimeoutMillis: 10_000,
    options: POSTGRES_SESSION_OPTIONS,
    application_name: `cdc-${purpose}-${source.name}`,
  };
}

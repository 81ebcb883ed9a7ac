import { z } from 'zod';

/**
 * How services/sink-clickhouse consumes and writes. `batch.maxRows` was chosen by measurement
 * (`node loadtests/sink-clickhouse/bench.ts`, 200k change events of a 12-column table into the
 * embedded engine, 2 cores): the sink ran at ~23k rows/s with batches of 2000, 5000 and 50000
 * rows (14.5k at 20000) while the engine alone ran at 43k-84k rows/s: the sink is bound by its
 * own decoding on one thread, not by the insert size. 5000 gave the lowest peak RSS of the sink
 * (775 MB against 906-1170 MB) at the same rate and keeps batches (and their latency) small:
 * hence 5000. `maxWaitMs` bounds the latency of a quiet topic.
 */
export const ClickHouseSinkSchema = z
  .strictObject({
    /** Consumer group of the sink (one group per ClickHouse target). */
    groupId: z.string().min(1).default('cdc-sink-clickhouse'),
    /** Topics to consume: names, or `/regex/` (e.g. `/^shop\\./`). */
    topics: z.array(z.string().min(1)).min(1).default(['/^(?!.*\\.dlq$)(?!__).*/']),
    /** How often the sink resolves `topics` again (ms): a topic created later (a new table or collection) is consumed from its beginning without a restart; 0 resolves them only at start. */
    topicRefreshMs: z.number().int().min(0).default(5_000),
    /** Per topic: the table name (default: the topic with `.` as `_`, see `tableNameForTopic` in `@cdc/core`; two topics or sources never share a table) and, for topics without an Avro key record, the value fields that identify a row. */
    tables: z
      .record(
        z.string(),
        z.strictObject({
          table: z
            .string()
            .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
            .optional(),
          keyColumns: z.array(z.string().min(1)).optional(),
        }),
      )
      .default({}),
    batch: z
      .strictObject({
        /** Flush when this many records are buffered (consumption pauses beyond it). */
        maxRows: z.number().int().positive().default(5_000),
        /** Flush at the latest this long after the first buffered record. */
        maxWaitMs: z.number().int().positive().default(500),
      })
      .prefault({}),
    retry: z
      .strictObject({
        initialDelayMs: z.number().int().positive().default(200),
        maxDelayMs: z.number().int().positive().default(10_000),
      })
      .prefault({}),
    /** Consumer group session timeout: how long a crashed sink holds its partitions before the group moves them (the broker allows 6 s and up). */
    sessionTimeoutMs: z.number().int().min(6_000).default(30_000),
    /** Records that cannot be written go here, with the reason in headers. */
    deadLetterTopic: z.string().min(1).default('cdc.sink-clickhouse.dlq'),
    /**
     * An incompatible schema change (a column type that cannot be widened in place, a new key):
     * `stop-table` stops that table (the others go on) with an error naming the column, both
     * types and the fix; `dead-letter` dead-letters its records; `recreate` moves the table
     * aside as `<t>__before_<schema id>` and creates `<t>` again in the new shape, under the
     * same name, filled by the records from then on (pair it with the PostgreSQL source's
     * `schemaEvolution: recreate`, which has the whole table read again into the topic).
     */
    onIncompatibleSchema: z.enum(['stop-table', 'dead-letter', 'recreate']).default('stop-table'),
    /**
     * A column dropped at the source (no longer in the topic's schema): `keep` it in the table
     * (made Nullable where it was not; each row's next change writes NULL into it, rows not
     * changed since keep their last value), or `drop` it from the table (`t_history` keeps it,
     * with every past value). Applies to tables named by default (one topic each).
     */
    droppedColumns: z.enum(['keep', 'drop']).default('keep'),
  })
  .prefault({});

/** Where the sink writes (owned by services/sink-clickhouse). */
export const ClickHouseSectionSchema = z.union([
  z.strictObject({
    /** The embedded engine (chdb) on a data directory: the zero-setup default. */
    embedded: z.strictObject({
      path: z.string().min(1),
      /** Read-only SQL over HTTP on 127.0.0.1 (`/?query=…`), shaped like ClickHouse's HTTP interface; port 0 picks one. */
      http: z
        .strictObject({
          enabled: z.boolean().default(true),
          port: z.number().int().min(0).max(65535).default(18124),
        })
        .prefault({}),
    }),
    database: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('cdc'),
    sink: ClickHouseSinkSchema,
  }),
  z.strictObject({
    /** A ClickHouse server over HTTP(S). */
    url: z.url(),
    database: z.string().default('default'),
    username: z.string().default('default'),
    password: z.string().optional(),
    requestTimeoutMs: z.number().int().positive().default(30_000),
    sink: ClickHouseSinkSchema,
  }),
]);
export type ClickHouseSection = z.output<typeof ClickHouseSectionSchema>;
export type ClickHouseSinkOptions = z.output<typeof ClickHouseSinkSchema>;

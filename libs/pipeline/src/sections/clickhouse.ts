import { DEFAULT_SINK_DEAD_LETTER_TOPIC } from '@cdc/core';
import { z } from 'zod';

/**
 * How services/sink-clickhouse consumes and writes. `batch.maxRows` was chosen by measurement
 * (`node loadtests/sink-clickhouse/bench.ts`: 200k change events of a 12-column table into the
 * embedded engine, 2 cores, medians of 3 rounds, in `npm run bench` and alone): batches of 2,000 /
 * 5,000 / 20,000 / 50,000 rows ran at 92k-96k / 109k-131k / 141k-146k / 127k-129k rows/s, 0.74-0.79
 * / 0.76-0.80 / 0.76-0.78 / 0.66-0.69 of the engine inserting the same rows alone. 5,000 is close
 * to 20,000 with batches (and their latency) four times smaller, and the sink's peak RSS is
 * lowest there: hence 5000. `maxWaitMs` bounds the latency of a quiet topic.
 */
export const ClickHouseSinkSchema = z
  .strictObject({
    groupId: z
      .string()
      .min(1)
      .default('cdc-sink-clickhouse')
      .meta({ description: 'Consumer group of the sink (one group per ClickHouse target).' }),
    topics: z.array(z.string().min(1)).min(1).default(['/.*/']).meta({
      description:
        "Topics to consume: names, or `/regex/` (e.g. `/^shop\\\\./`). The pipeline's internal topics (offsets, dead letters, quarantines, the processor's changelogs and repartition topics, `__*`; see `topicKind` in `@cdc/core`) are never consumed, whatever the patterns say.",
    }),
    topicRefreshMs: z.number().int().min(0).default(5_000).meta({
      description:
        'How often the sink resolves `topics` again (ms): a topic created later (a new table or collection) is consumed from its beginning without a restart; 0 resolves them only at start.',
    }),
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
      .default({})
      .meta({
        description:
          'Per topic: the table name (default: the topic with `.` as `_`, see `tableNameForTopic` in `@cdc/core`; two topics or sources never share a table) and, for topics without an Avro key record, the value fields that identify a row.',
      }),
    batch: z
      .strictObject({
        maxRows: z
          .number()
          .int()
          .positive()
          .default(5_000)
          .meta({ description: 'Flush when this many records are buffered (consumption pauses beyond it).' }),
        maxWaitMs: z
          .number()
          .int()
          .positive()
          .default(500)
          .meta({ description: 'Flush at the latest this long after the first buffered record.' }),
      })
      .prefault({})
      .meta({ description: 'When the sink flushes a batch of rows to ClickHouse.' }),
    retry: z
      .strictObject({
        initialDelayMs: z
          .number()
          .int()
          .positive()
          .default(200)
          .meta({ description: 'The first wait after a failed write.' }),
        maxDelayMs: z
          .number()
          .int()
          .positive()
          .default(10_000)
          .meta({ description: 'The ceiling of the wait between writes.' }),
      })
      .prefault({})
      .meta({
        description: 'The backoff between attempts to write a batch that failed for a retriable reason.',
      }),
    sessionTimeoutMs: z.number().int().min(6_000).default(30_000).meta({
      description:
        'Consumer group session timeout: how long a crashed sink holds its partitions before the group moves them (the broker allows 6 s and up).',
    }),
    deadLetterTopic: z
      .string()
      .min(1)
      .default(DEFAULT_SINK_DEAD_LETTER_TOPIC)
      .meta({ description: 'Records that cannot be written go here, with the reason in headers.' }),
    onIncompatibleSchema: z.enum(['stop-table', 'dead-letter', 'recreate']).default('stop-table').meta({
      description:
        "An incompatible schema change (a column type that cannot be widened in place, a new key): `stop-table` stops that table (the others go on) with an error naming the column, both types and the fix; `dead-letter` dead-letters its records; `recreate` moves the table aside as `<t>__before_<schema id>` and creates `<t>` again in the new shape, under the same name, filled by the records from then on (pair it with the PostgreSQL source's `schemaEvolution: recreate`, which has the whole table read again into the topic).",
    }),
    droppedColumns: z.enum(['keep', 'drop']).default('keep').meta({
      description:
        "A column dropped at the source (no longer in the topic's schema): `keep` it in the table (made Nullable where it was not; each row's next change writes NULL into it, rows not changed since keep their last value), or `drop` it from the table (`t_history` keeps it, with every past value). Applies to tables named by default (one topic each).",
    }),
  })
  .prefault({});

/** Where the sink writes (owned by services/sink-clickhouse). */
export const ClickHouseSectionSchema = z.union([
  z.strictObject({
    embedded: z
      .strictObject({
        path: z.string().min(1).meta({
          description: 'The data directory of the embedded engine (one process at a time holds it).',
        }),
        http: z
          .strictObject({
            enabled: z.boolean().default(true).meta({ description: 'Serve the read-only SQL endpoint.' }),
            port: z
              .number()
              .int()
              .min(0)
              .max(65535)
              .default(18124)
              .meta({ description: 'The port of the read-only SQL endpoint.' }),
          })
          .prefault({})
          .meta({
            description:
              "Read-only SQL over HTTP on 127.0.0.1 (`/?query=…`), shaped like ClickHouse's HTTP interface; port 0 picks one.",
          }),
      })
      .meta({ description: 'The embedded engine (chdb) on a data directory: the zero-setup default.' }),
    database: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('cdc')
      .meta({ description: 'The ClickHouse database of the replica tables.' }),
    sink: ClickHouseSinkSchema.meta({
      description: 'How the sink consumes the topics and writes the tables.',
    }),
  }),
  z.strictObject({
    url: z.url().meta({ description: 'A ClickHouse server over HTTP(S).' }),
    database: z
      .string()
      .default('default')
      .meta({ description: 'The ClickHouse database of the replica tables.' }),
    username: z.string().default('default').meta({ description: 'The ClickHouse user.' }),
    password: z
      .string()
      .optional()
      .meta({ description: 'The ClickHouse password: a secret (use `${VAR}`), never logged.' }),
    requestTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .meta({ description: 'How long one request to ClickHouse may take.' }),
    sink: ClickHouseSinkSchema.meta({
      description: 'How the sink consumes the topics and writes the tables.',
    }),
  }),
]);
export type ClickHouseSection = z.output<typeof ClickHouseSectionSchema>;
export type ClickHouseSinkOptions = z.output<typeof ClickHouseSinkSchema>;

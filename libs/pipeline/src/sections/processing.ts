import { z } from 'zod';

/**
 * What services/processor computes, declared the way one would write a few lines of ksqlDB:
 * `enrich` joins a CDC stream with CDC tables, `aggregate` groups (windowed or not) and
 * aggregates with full CDC semantics (updates move a row between groups and windows, deletes
 * retract it). Durations are milliseconds or strings such as `500ms`, `10s`, `5m`, `1h`.
 */

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `1m` → 60000; a number is milliseconds. */
export const DurationSchema = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+(ms|s|m|h|d)?$/, 'a duration such as 500ms, 10s, 5m, 1h or a number of milliseconds')
    .transform((s) => {
      const [, n, unit] = /^(\d+)(ms|s|m|h|d)?$/.exec(s) as unknown as [string, string, string | undefined];
      return Number(n) * (UNITS[unit ?? 'ms'] as number);
    }),
]);

const Name = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'letters, digits, _ and - (it names stores and internal topics)');
const Field = z.string().min(1);
const Topic = z.string().regex(/^[A-Za-z0-9._-]+$/, 'a Kafka topic name');

/** Fields to carry over: a list (same names) or `{ outputName: sourceField }`. */
const FieldSelection = z.union([z.array(Field).min(1), z.record(z.string().min(1), Field)]);

export const EnrichJoinSchema = z.strictObject({
  table: Topic.meta({ description: "The CDC topic of the table (its key is the table's primary key)." }),
  on: z
    .union([Field, z.array(Field).min(1)])
    .optional()
    .meta({
      description:
        "Field(s) of the stream's row holding the table's key (a foreign key); omitted: join by the stream's own key.",
    }),
  type: z.enum(['inner', 'left']).default('left').meta({
    description:
      "`inner` drops rows with no match (and retracts what they contributed); `left` keeps them with the table's fields null.",
  }),
  fields: FieldSelection.meta({ description: "The table's fields to carry over." }),
});

export const EnrichSchema = z.strictObject({
  name: Name.meta({ description: "The name of the enriched stream (what an aggregate's `from` names)." }),
  from: Topic.meta({ description: 'The CDC topic of the stream (e.g. `shop.cdc.public.orders`).' }),
  fields: FieldSelection.optional().meta({
    description: "The stream's own fields to carry over (default: all of them).",
  }),
  join: z
    .array(EnrichJoinSchema)
    .default([])
    .meta({ description: 'The tables joined to the stream, in order.' }),
});

export const AGGREGATION_FUNCTIONS = ['count', 'sum', 'min', 'max', 'avg', 'count_distinct', 'top'] as const;

export const AggregationSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an Avro field name')
      .meta({ description: 'The output field.' }),
    fn: z.enum(AGGREGATION_FUNCTIONS).meta({
      description:
        'The function: `count`, `sum`, `min`, `max`, `avg`, `count_distinct`, or `top` (the `n` entries with the largest sum of `by`).',
    }),
    field: Field.optional().meta({
      description:
        'The input field (for `count`: count rows where it is not null; omitted: count rows). For `top`: the field that names an entry.',
    }),
    by: Field.optional().meta({ description: '`top`: the numeric field whose sum ranks the entries.' }),
    n: z
      .number()
      .int()
      .positive()
      .max(1000)
      .default(10)
      .meta({ description: '`top`: how many entries to keep.' }),
    precision: z
      .number()
      .int()
      .min(1)
      .max(38)
      .default(20)
      .meta({ description: "`sum`, `min`, `max`, `top`: the output decimal's precision and scale." }),
    scale: z
      .number()
      .int()
      .min(0)
      .max(18)
      .default(2)
      .meta({ description: "The output decimal's scale (digits after the point), at most `precision`." }),
  })
  .superRefine((a, ctx) => {
    if (a.fn !== 'count' && a.field === undefined)
      ctx.addIssue({ code: 'custom', path: ['field'], message: `${a.fn} needs a field` });
    if (a.fn === 'top' && a.by === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['by'],
        message: 'top needs "by", the field whose sum ranks entries',
      });
    if (a.scale > a.precision)
      ctx.addIssue({ code: 'custom', path: ['scale'], message: 'scale must not exceed precision' });
  });

const OPS = ['=', '!=', '<', '<=', '>', '>=', 'in', 'not_in', 'is_null', 'not_null'] as const;
const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One condition on a field of the (enriched) row; a filter is the AND of its conditions. */
export const ConditionSchema = z
  .strictObject({
    field: Field.meta({ description: 'The field of the (enriched) row the condition tests.' }),
    op: z
      .enum(OPS)
      .meta({ description: 'The comparison; `in`/`not_in` take a list, `is_null`/`not_null` no value.' }),
    value: z
      .union([Scalar, z.array(Scalar)])
      .optional()
      .meta({ description: 'The value compared with (a list for `in`/`not_in`).' }),
  })
  .superRefine((c, ctx) => {
    const list = c.op === 'in' || c.op === 'not_in';
    const none = c.op === 'is_null' || c.op === 'not_null';
    if (list && !Array.isArray(c.value))
      ctx.addIssue({ code: 'custom', path: ['value'], message: `${c.op} needs a list value` });
    if (!list && !none && (c.value === undefined || Array.isArray(c.value)))
      ctx.addIssue({ code: 'custom', path: ['value'], message: `${c.op} needs a single value` });
  });

/**
 * How long after its end a window still takes changes (default 1 day): an update or delete of a
 * row counted in it retracts the row from it, and changes that reach it late (a snapshot or a
 * restart works through a backlog) are added, each re-emitting the window's result. A change for
 * a window older than this is late: counted in `cdc_late_records_total` and sent to
 * `lateRecordsTopic` when there is one. `grace` only decides when an `on-close` window is first
 * emitted.
 */
const Retention = DurationSchema.default(86_400_000).meta({
  description:
    'How long after its end a window still takes changes (default 1 day): later updates and deletes retract from it and late changes are added, each re-emitting its result; older changes are late (counted, and sent to `lateRecordsTopic`).',
});

export const WindowSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('tumbling').meta({
      description:
        '`tumbling`: fixed windows side by side; `hopping`: fixed windows every `advance`; `session`: a window per burst of activity, closed by `gap`.',
    }),
    size: DurationSchema.meta({ description: "The window's length (`15m`, `1h`, or milliseconds)." }),
    grace: DurationSchema.default(0).meta({
      description:
        'How long after its end an `on-close` window waits for late changes before it is first emitted.',
    }),
    retention: Retention,
  }),
  z.strictObject({
    type: z.literal('hopping').meta({
      description:
        '`tumbling`: fixed windows side by side; `hopping`: fixed windows every `advance`; `session`: a window per burst of activity, closed by `gap`.',
    }),
    size: DurationSchema.meta({ description: "The window's length (`15m`, `1h`, or milliseconds)." }),
    advance: DurationSchema.meta({
      description: 'How far each hopping window starts after the previous one (at most `size`).',
    }),
    grace: DurationSchema.default(0).meta({
      description:
        'How long after its end an `on-close` window waits for late changes before it is first emitted.',
    }),
    retention: Retention,
  }),
  z.strictObject({
    type: z.literal('session').meta({
      description:
        '`tumbling`: fixed windows side by side; `hopping`: fixed windows every `advance`; `session`: a window per burst of activity, closed by `gap`.',
    }),
    gap: DurationSchema.meta({ description: 'The inactivity that closes a session window.' }),
    grace: DurationSchema.default(0).meta({
      description:
        'How long after its end an `on-close` window waits for late changes before it is first emitted.',
    }),
    retention: Retention,
  }),
]);

export const AggregateSchema = z
  .strictObject({
    name: Name.meta({
      description:
        "The aggregate's name: it names its state store, its internal topics and its interactive queries.",
    }),
    from: z
      .string()
      .min(1)
      .meta({ description: 'The name of an `enrich` declaration, or a CDC topic (aggregated as it is).' }),
    topic: Topic.meta({
      description: 'The output topic; its value schema is registered as `<topic>-value` on start.',
    }),
    groupBy: z
      .array(Field)
      .default([])
      .meta({ description: 'Fields of the (enriched) row; the empty list makes one group per window.' }),
    window: WindowSchema.optional().meta({
      description: 'The window of the aggregate; without it the aggregate is one running result per group.',
    }),
    eventTime: z
      .union([
        z.literal('source'),
        z.strictObject({
          field: Field.meta({ description: 'A timestamp field of the row that gives the event time.' }),
        }),
      ])
      .default('source')
      .meta({
        description:
          'Event time: `source` = the commit time of the change (`source.tsMs`), or a timestamp field of the row.',
      }),
    filter: z
      .array(ConditionSchema)
      .default([])
      .meta({ description: 'Conditions a row must meet to count (their AND).' }),
    aggregations: z
      .array(AggregationSchema)
      .min(1)
      .meta({ description: 'The outputs computed per group (and window).' }),
    emit: z.enum(['on-update', 'on-close']).optional().meta({
      description:
        "`on-close`: one final record per window after its grace; `on-update` (default for unwindowed): the new result as changes are committed, one update per group and window for the changes a task commits together (every `commitIntervalMs`), as Kafka Streams' record cache does.",
    }),
    lateRecordsTopic: Topic.optional().meta({
      description: 'Where changes for windows past their retention go (they are always counted in metrics).',
    }),
  })
  .superRefine((a, ctx) => {
    const names = [...a.groupBy, ...a.aggregations.map((x) => x.name)];
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i)
        ctx.addIssue({
          code: 'custom',
          path: ['aggregations'],
          message: `output field ${n} is defined twice`,
        });
    });
    if (a.emit === 'on-close' && !a.window)
      ctx.addIssue({ code: 'custom', path: ['emit'], message: 'on-close needs a window' });
    if (a.window?.type === 'hopping' && a.window.advance > a.window.size)
      ctx.addIssue({ code: 'custom', path: ['window', 'advance'], message: 'advance must not exceed size' });
    if (a.window && a.window.type !== 'session' && a.window.size < 1)
      ctx.addIssue({ code: 'custom', path: ['window', 'size'], message: 'size must be at least 1 ms' });
  });

export const ProcessingSectionSchema = z
  .strictObject({
    applicationId: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/)
      .default('cdc-processor')
      .meta({ description: "The consumer group, the internal topics' prefix and the state folder's name." }),
    stateDir: z
      .string()
      .min(1)
      .default('.stack/data/processor')
      .meta({ description: 'Where LevelDB state lives.' }),
    commitIntervalMs: z.number().int().min(0).max(60_000).default(100).meta({
      description:
        "At most how long processed records wait for their Kafka transaction, as Kafka Streams' `commit.interval.ms` under exactly-once: the batches processed within it share one commit. Lower means less latency per hop and more transactions; 0 commits every batch.",
    }),
    guarantee: z.enum(['exactly_once_v2', 'exactly_once']).default('exactly_once_v2').meta({
      description:
        "How tasks commit, as Kafka Streams' `processing.guarantee`. `exactly_once_v2`: one transactional producer per stream thread and one transaction per commit for all its tasks, their offsets fenced by the consumer group's generation (fewer transactions: much less CPU at a steady rate). `exactly_once`: a transactional producer and a transaction per task. Both are exactly-once. Change it with every instance of the application stopped: instances of the two kinds in one group do not fence each other's zombies.",
    }),
    threads: z.number().int().min(1).max(64).default(1).meta({
      description:
        "Stream threads in this process, as Kafka Streams' `num.stream.threads`: each thread is a member of the consumer group with its own tasks, Kafka clients and state directory (`<stateDir>/thread-<n>` beside the first thread's), so the partitions' work spreads over the CPU cores. More threads than input partitions leave some idle.",
    }),
    http: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .meta({ description: "Serve interactive queries of the aggregates' state." }),
        host: z
          .string()
          .default('127.0.0.1')
          .meta({ description: 'The address the interactive queries listen on.' }),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(18090)
          .meta({ description: 'The port of the interactive queries.' }),
        advertisedUrl: z
          .url()
          .optional()
          .meta({ description: 'How other instances reach this one (default `http://<host>:<port>`).' }),
      })
      .prefault({})
      .meta({
        description: 'Interactive queries (`GET /state/<aggregate>?key=…`), on 127.0.0.1; port 0 picks one.',
      }),
    enrich: z.array(EnrichSchema).default([]).meta({
      description:
        'Streams joined with tables into enriched streams (foreign-key joins kept current as either side changes).',
    }),
    aggregate: z.array(AggregateSchema).default([]).meta({
      description:
        'Aggregates over a stream or an enriched stream, optionally windowed, written to their own topics.',
    }),
  })
  .superRefine((p, ctx) => {
    if (p.threads > 1 && p.http.enabled && p.http.advertisedUrl !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['threads'],
        message:
          'threads > 1 with http.advertisedUrl is not supported: each thread answers queries on a port of its own on http.host; run one thread per process behind the advertised URL, or drop advertisedUrl',
      });
    const names = [...p.enrich.map((e) => e.name), ...p.aggregate.map((a) => a.name)];
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i)
        ctx.addIssue({ code: 'custom', path: ['aggregate'], message: `two declarations are named ${n}` });
    });
    p.aggregate.forEach((a, i) => {
      const isEnrich = p.enrich.some((e) => e.name === a.from);
      if (!isEnrich && !/^[A-Za-z0-9._-]+\.[A-Za-z0-9._-]+$/.test(a.from))
        ctx.addIssue({
          code: 'custom',
          path: ['aggregate', i, 'from'],
          message: `"${a.from}" is neither an enrich declaration (${p.enrich.map((e) => e.name).join(', ') || 'none'}) nor a topic name`,
        });
    });
  });

export type ProcessingSection = z.output<typeof ProcessingSectionSchema>;
export type EnrichDeclaration = z.output<typeof EnrichSchema>;
export type EnrichJoin = z.output<typeof EnrichJoinSchema>;
export type AggregateDeclaration = z.output<typeof AggregateSchema>;
export type AggregationDeclaration = z.output<typeof AggregationSchema>;
export type FilterCondition = z.output<typeof ConditionSchema>;
export type WindowDeclaration = z.output<typeof WindowSchema>;

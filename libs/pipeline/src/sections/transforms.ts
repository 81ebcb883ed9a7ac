import { z } from 'zod';
import { ExpressionError, parseExpression } from '../transforms/expression.ts';

/**
 * A duration as written (`10m`, `30s`, `2h` or milliseconds), kept as written so that the file's
 * reference page keeps its defaults (a transform would hide them); `durationMs` reads it.
 */
const Duration = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(ms|s|m|h|d)?$/, 'a duration such as 500ms, 10s, 5m, 1h or a number of milliseconds'),
]);

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `10m` → 600000; a number is milliseconds. */
export function durationMs(d: number | string): number {
  if (typeof d === 'number') return d;
  const [, n, unit] = /^(\d+)(ms|s|m|h|d)?$/.exec(d) as unknown as [string, string, string | undefined];
  return Number(n) * (UNITS[unit ?? 'ms'] as number);
}

/**
 * Per-table transforms and data-quality rules of a source, applied by its capture to the
 * snapshot, the incremental snapshot and the stream alike, before anything reaches Kafka:
 *
 *   tables:
 *     public.customers:
 *       filter: "status <> 'deleted' and country in ('FR', 'DE')"
 *       columns:
 *         exclude: [ssn]
 *         rename: { email_address: email }
 *         mask: { email: hash, phone: redact, name: { truncate: 1 } }
 *         computed: { is_vip: "tier = 'gold'" }
 *       quality:
 *         - { rule: not_null, column: email, action: quarantine }
 *         - { rule: range, column: age, min: 0, max: 150, action: count }
 *     "*": { quality: [{ rule: max_length, column: note, max: 2000 }] }
 *   maskSalt: ${CDC_MASK_SALT}
 *
 * Expressions are the language of `transforms/expression.ts` (comparisons, `and/or/not`,
 * `in`, `is null`, `like`, `+ - * / ||`, `lower upper length coalesce`).
 */

/** An expression of the row language, checked for syntax when the file is read. */
export const ExpressionSchema = z
  .string()
  .min(1)
  .superRefine((src, ctx) => {
    try {
      parseExpression(src);
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      ctx.addIssue({
        code: 'custom',
        message: `${err.message} at character ${err.position + 1} of ${JSON.stringify(src)}`,
      });
    }
  });

const Column = z.string().min(1);
const OutputName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _ (an Avro field name)');

/** `hash` (HMAC-SHA-256 with `maskSalt`, hex: equal inputs stay equal, so joins still work), `redact` (`***`), `{ truncate: n }` (the first n characters). */
export const MaskSchema = z.union([
  z.enum(['hash', 'redact']),
  z.strictObject({ truncate: z.number().int().nonnegative() }),
]);

/** What a broken rule does: `count` (metrics only), `quarantine` (to `<prefix>.quarantine`, replayable), `stop` (the table stops). */
export const RuleActionSchema = z.enum(['count', 'quarantine', 'stop']);

const ruleBase = {
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]+$/)
    .optional()
    .meta({ description: "The rule's name in metrics and quarantine records (default `<rule>:<column>`)." }),
  column: Column,
  action: RuleActionSchema.default('count'),
};

export const QualityRuleSchema = z.discriminatedUnion('rule', [
  z.strictObject({ rule: z.literal('not_null'), ...ruleBase }),
  z
    .strictObject({
      rule: z.literal('range'),
      ...ruleBase,
      min: z.number().optional(),
      max: z.number().optional(),
    })
    .refine((r) => r.min !== undefined || r.max !== undefined, {
      message: 'a range rule needs min, max or both',
    }),
  z.strictObject({
    rule: z.literal('regex'),
    ...ruleBase,
    pattern: z.string().superRefine((p, ctx) => {
      try {
        new RegExp(p, 'u');
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          message: `not a valid regular expression: ${(err as Error).message}`,
        });
      }
    }),
  }),
  z.strictObject({
    rule: z.literal('in_set'),
    ...ruleBase,
    values: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1),
  }),
  z.strictObject({ rule: z.literal('max_length'), ...ruleBase, max: z.number().int().nonnegative() }),
  /**
   * No two rows (different keys) with the same value of `column` within `window` (e.g. `10m`),
   * by capture time. Held in the capture's memory (at most 1,000,000 values per rule; a restart
   * starts an empty window).
   */
  z.strictObject({ rule: z.literal('unique_within'), ...ruleBase, window: Duration }),
  /**
   * The table changes at least every `maxAge` (e.g. `30m`): after that long without a change the
   * violation is counted once and `/readyz` lists the table under `attention` until its next
   * change. Table-level, so `count` is its only action.
   */
  z.strictObject({
    rule: z.literal('freshness'),
    name: ruleBase.name,
    maxAge: Duration,
    action: z.literal('count').default('count'),
  }),
]);

export const TableTransformSchema = z.strictObject({
  filter: ExpressionSchema.optional().meta({
    description: 'Keep only rows for which this is true; an update that takes a row out becomes a delete.',
  }),
  columns: z
    .strictObject({
      exclude: z.array(Column).default([]).meta({ description: 'Columns never written.' }),
      rename: z.record(Column, OutputName).default({}).meta({ description: '`{ column: newName }`.' }),
      mask: z
        .record(Column, MaskSchema)
        .default({})
        .meta({ description: '`{ column: hash | redact | { truncate: n } }`.' }),
      computed: z
        .record(OutputName, ExpressionSchema)
        .default({})
        .meta({ description: '`{ newColumn: expression }`, added to every row (nullable).' }),
    })
    .prefault({}),
  quality: z.array(QualityRuleSchema).default([]).meta({
    description: 'Data-quality rules, checked on every row that passes the filter (before masking).',
  }),
});

export const TransformsSchema = {
  tables: z
    .record(z.string().min(1), TableTransformSchema)
    .default({})
    .describe(
      'Per-table transforms and quality rules by `schema.table` (MongoDB: `db.collection`; `"*"`: every table without an entry), each `{ filter, columns: { exclude, rename, mask, computed }, quality: [rules] }`: see "Transforms and data-quality rules" in the README.',
    )
    .meta({
      description:
        'Per-table transforms and quality rules, by `schema.table` (MongoDB: `db.collection`); `"*"` applies to every table without an entry of its own.',
    }),
  maskSalt: z
    .string()
    .min(16, 'at least 16 characters (use a random secret)')
    .optional()
    .describe(
      'The salt of `hash` masks (HMAC-SHA-256): a secret, so write a reference such as `${CDC_MASK_SALT}`, never the value; at least 16 characters; never logged.',
    )
    .meta({
      description:
        'The salt of `hash` masks: a secret, so write a reference (`${CDC_MASK_SALT}`), never the value; at least 16 characters. Changing it changes every hashed value.',
    }),
};

export type TableTransform = z.output<typeof TableTransformSchema>;
export type QualityRule = z.output<typeof QualityRuleSchema>;
export type Mask = z.output<typeof MaskSchema>;

/** Cross-field checks of a source's transforms (`hash` needs `maskSalt`, names in `include`). */
export function checkTransforms(
  source: { tables: Record<string, TableTransform>; maskSalt?: string | undefined; include: string[] },
  ctx: z.RefinementCtx,
): void {
  for (const [table, t] of Object.entries(source.tables)) {
    for (const [column, mask] of Object.entries(t.columns.mask)) {
      if (mask === 'hash' && source.maskSalt === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['tables', table, 'columns', 'mask', column],
          message:
            'a hash mask needs the source key maskSalt: set maskSalt: ${CDC_MASK_SALT} and put a random secret of 16+ characters in that environment variable',
        });
    }
    const outputs = new Set<string>();
    const renamed = Object.values(t.columns.rename);
    for (const name of [...renamed, ...Object.keys(t.columns.computed)]) {
      if (outputs.has(name))
        ctx.addIssue({
          code: 'custom',
          path: ['tables', table, 'columns'],
          message: `two output columns are named ${name}: rename or computed names must be unique`,
        });
      outputs.add(name);
    }
    if (table !== '*' && source.include.length > 0 && !coveredBy(table, source.include))
      ctx.addIssue({
        code: 'custom',
        path: ['tables', table],
        message: `${table} is not captured: add it to include (${source.include.join(', ')}) or remove this entry`,
      });
  }
}

function coveredBy(table: string, include: string[]): boolean {
  const bare = table.includes('.') ? table : `public.${table}`;
  return include.some(
    (i) =>
      i === table || i === bare || (!i.includes('.') && table.startsWith(`${i}.`)) || `public.${i}` === bare,
  );
}

/** The entry for `table` (`schema.table`; a bare name is `public.<name>`), else `"*"`. */
export function transformFor(
  tables: Record<string, TableTransform>,
  table: string,
): { key: string; transform: TableTransform } | null {
  const [schema, name] = table.split('.', 2) as [string, string];
  for (const key of [table, schema === 'public' ? name : undefined, '*']) {
    if (key !== undefined && tables[key]) return { key, transform: tables[key] as TableTransform };
  }
  return null;
}

/**
 * Data-quality rules of one column (or field path), compiled once: `check(value, key, nowMs)`
 * gives the violation or null. Shared by table rows and documents, which differ only in how a
 * value reads as text and as a number. `freshness` is table-level: `RowGate` watches it.
 */
import { durationMs, type QualityRule } from '@cdc/pipeline';

export interface Violation {
  /** The rule's name (`<rule>:<column>` unless named). */
  rule: string;
  column: string;
  action: QualityRule['action'];
  /** The value that broke it (as JSON text, at most 200 characters). */
  value: string;
  /** What the rule wants, in words (`not null`, `in [0, 150]`, …). */
  expected: string;
}

export type ColumnRule = Exclude<QualityRule, { rule: 'freshness' }>;

export interface CompiledRule {
  name: string;
  /** The column (or path) as the pipeline file names it. */
  column: string;
  /** `key`: the row's key as text, computed when asked (for `unique_within`); `nowMs`: capture time. */
  check(v: unknown, key: () => string, nowMs: number): Violation | null;
}

export interface ValueReading {
  text(v: unknown): string;
  /** NaN when not a number. */
  number(v: unknown): number;
}

/** Values remembered per `unique_within` rule at most (the oldest are forgotten first). */
export const UNIQUE_WITHIN_MAX_VALUES = 1_000_000;

export function ruleName(rule: QualityRule): string {
  return rule.name ?? (rule.rule === 'freshness' ? 'freshness' : `${rule.rule}:${rule.column}`);
}

export function compileRule(rule: ColumnRule, read: ValueReading): CompiledRule {
  const name = ruleName(rule);
  const violation = (v: unknown, expected: string): Violation => ({
    rule: name,
    column: rule.column,
    action: rule.action,
    value: shortJson(v, read),
    expected,
  });
  const none = (v: unknown) => v === null || v === undefined;
  const compiled = (check: CompiledRule['check']): CompiledRule => ({ name, column: rule.column, check });
  switch (rule.rule) {
    case 'not_null':
      return compiled((v) => (none(v) ? violation(null, 'not null') : null));
    case 'range': {
      const { min, max } = rule;
      const expected = `in [${min ?? '-∞'}, ${max ?? '∞'}]`;
      return compiled((v) => {
        if (none(v)) return null;
        const n = read.number(v);
        return Number.isNaN(n) || (min !== undefined && n < min) || (max !== undefined && n > max)
          ? violation(v, expected)
          : null;
      });
    }
    case 'regex': {
      const re = new RegExp(rule.pattern, 'u');
      return compiled((v) =>
        none(v) || re.test(read.text(v)) ? null : violation(v, `matching /${rule.pattern}/`),
      );
    }
    case 'in_set': {
      const set = new Set(rule.values.map((x) => String(x)));
      return compiled((v) =>
        none(v) || set.has(read.text(v)) ? null : violation(v, `one of ${JSON.stringify(rule.values)}`),
      );
    }
    case 'max_length': {
      const { max } = rule;
      return compiled((v) =>
        none(v) || [...read.text(v)].length <= max ? null : violation(v, `at most ${max} characters`),
      );
    }
    case 'unique_within': {
      const windowMs = durationMs(rule.window);
      // value → the key that had it and when; insertion order is time order (entries move to the end when seen again).
      const seen = new Map<string, { key: string; at: number }>();
      return compiled((v, keyOf, now) => {
        if (none(v)) return null;
        const key = keyOf();
        for (const [value, e] of seen) {
          if (now - e.at <= windowMs && seen.size <= UNIQUE_WITHIN_MAX_VALUES) break;
          seen.delete(value);
        }
        const text = read.text(v);
        const last = seen.get(text);
        if (last && last.key !== key && now - last.at <= windowMs)
          return violation(v, `unique within ${windowMs / 1000} s (the row with key ${last.key} has it)`);
        seen.delete(text);
        seen.set(text, { key, at: now });
        return null;
      });
    }
  }
}

function shortJson(v: unknown, read: ValueReading): string {
  const s = v === undefined || v === null ? 'null' : typeof v === 'string' ? JSON.stringify(v) : read.text(v);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

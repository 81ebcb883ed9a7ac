import type { FilterCondition } from '@cdc/pipeline';
import { compare, toDecimal } from './decimal.ts';
import type { PlainRow, PlainValue } from './plain-value.ts';

type Scalar = string | number | boolean | null;

/** Compares numerically when either side is a number (decimal text counts), else as text; null when incomparable. */
function cmp(a: PlainValue, b: Scalar): number | null {
  if (a === null || b === null) return null;
  if (typeof a === 'number' || typeof b === 'number') {
    try {
      return compare(toDecimal(a), toDecimal(b));
    } catch {
      return null;
    }
  }
  if (typeof a === 'boolean' || typeof b === 'boolean') return a === b ? 0 : null;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function holds(c: FilterCondition, row: PlainRow): boolean {
  const v = row[c.field] ?? null;
  switch (c.op) {
    case 'is_null':
      return v === null;
    case 'not_null':
      return v !== null;
    case 'in':
      return (c.value as Scalar[]).some((x) => cmp(v, x) === 0);
    case 'not_in':
      return v !== null && !(c.value as Scalar[]).some((x) => cmp(v, x) === 0);
  }
  // SQL semantics: a comparison with null is not true.
  const r = cmp(v, c.value as Scalar);
  if (r === null) return false;
  switch (c.op) {
    case '=':
      return r === 0;
    case '!=':
      return r !== 0;
    case '<':
      return r < 0;
    case '<=':
      return r <= 0;
    case '>':
      return r > 0;
    default:
      return r >= 0;
  }
}

/** A filter: every condition holds (as a SQL `WHERE a AND b`; a comparison with null fails). */
export function compileFilter(conditions: readonly FilterCondition[]): (row: PlainRow) => boolean {
  return (row) => conditions.every((c) => holds(c, row));
}

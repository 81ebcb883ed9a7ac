/**
 * `cdc query --json`: rows as a JSON array that loses nothing. ClickHouse is asked for 64-bit
 * integers and decimals as strings and for NaN/±Infinity as `"nan"`/`"inf"`/`"-inf"` (see
 * `LOSSLESS_JSON`); what stays a JSON number is a float that JavaScript reads exactly, and a
 * negative zero is printed `-0` (which `JSON.stringify` would turn into `0`).
 */
const NEGATIVE_ZERO = '\u0000-0\u0000';

export function formatQueryJson(rows: readonly unknown[]): string {
  const text = JSON.stringify(rows, (_k, v: unknown) => (Object.is(v, -0) ? NEGATIVE_ZERO : v), 2);
  return `${text.replaceAll(JSON.stringify(NEGATIVE_ZERO), '-0')}\n`;
}

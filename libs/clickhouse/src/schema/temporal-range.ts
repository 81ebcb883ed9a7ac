/**
 * Dates and times → what ClickHouse's `Date32` and `DateTime64` hold, which is 1900-01-01 to
 * 2299-12-31 (UTC). Every value is written as text (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS.ffffff`),
 * which the engine reads exactly on both sides of 1970 (its numeric `seconds.fraction` form
 * fails for negative values and for the first second of 1970).
 *
 * A value outside the range (before 1900, after 2299, PostgreSQL's `infinity`, `-infinity`
 * and BC dates, far-off BSON dates) cannot be held: the column gets the nearest value it can
 * hold (1900-01-01 00:00:00 or 2299-12-31 23:59:59.999999, so `infinity` still sorts after
 * every date and `-infinity` before), and the exact value is kept as text in the row's
 * `_out_of_range` map under the column's name (see `OUT_OF_RANGE_COLUMN`):
 *
 * | Avro | source | exact text |
 * |---|---|---|
 * | int `date` | PostgreSQL date | `infinity`, `-infinity`, `4714-11-24 BC`, `5000-01-01` (PostgreSQL's text) |
 * | long `timestamp-micros` | PostgreSQL timestamptz | `5000-01-01 00:00:00+00`, `infinity` (UTC, PostgreSQL's text) |
 * | long `local-timestamp-micros` | PostgreSQL timestamp | `1899-12-31 23:59:59.999999`, `0044-03-15 12:00:00 BC` |
 * | long `timestamp-millis` / `local-timestamp-millis` | BSON Date, processor | ISO 8601, `1800-01-01T00:00:00.000Z`, `+012345-01-01T00:00:00.000Z` |
 */
import {
  civilFromDays,
  daysFromCivil,
  pgDateToText,
  pgTimestampToText,
  pgTimestamptzToText,
} from '@cdc/avro';

/** Records the exact text of a value the column could not hold, at `path` below the column (`''`, `[2]`, `.field`). */
export type OutOfRangeNote = (path: string, exact: string) => void;

export const MIN_DAYS = daysFromCivil(1900, 1, 1);
export const MAX_DAYS = daysFromCivil(2299, 12, 31);
const MS_PER_DAY = 86_400_000n;

const pad = (n: number | bigint, width: number): string => {
  const neg = n < 0;
  const t = (neg ? -BigInt(n) : BigInt(n)).toString().padStart(width, '0');
  return neg ? `-${t}` : t;
};

/** `pad` for a non-negative safe integer (no bigint). */
const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

function dateOf(days: number): string {
  const [y, m, d] = civilFromDays(days);
  return `${y >= 1000 && y <= 9999 ? `${y}` : pad(y, 4)}-${pad2(m)}-${pad2(d)}`;
}

/** Avro `date` days → the Date32 text; out of range: the nearest bound, the exact text noted. */
export function date32Value(value: unknown, note?: OutOfRangeNote): string {
  const days = Number(value);
  if (days < MIN_DAYS || days > MAX_DAYS) {
    note?.('', pgDateToText(days));
    return dateOf(days < MIN_DAYS ? MIN_DAYS : MAX_DAYS);
  }
  return dateOf(days);
}

/** Epoch ticks at `digits` (3: ms, 6: µs) → `YYYY-MM-DD HH:MM:SS.fff[fff]` (UTC), for any in-range tick. */
export function dateTime64Text(ticks: bigint, digits: 3 | 6): string {
  const unit = digits === 3 ? 1000n : 1_000_000n;
  const perDay = MS_PER_DAY * (unit / 1000n);
  let days = ticks / perDay;
  let rest = ticks % perDay;
  if (rest < 0n) {
    rest += perDay;
    days -= 1n;
  }
  // Below a day's ticks (< 8.64e10): exact as a number.
  const r = Number(rest);
  const u = Number(unit);
  const secs = Math.floor(r / u);
  const frac = r - secs * u;
  return `${dateOf(Number(days))} ${pad2(Math.floor(secs / 3600))}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}.${`${frac}`.padStart(digits, '0')}`;
}

function isoMillis(ms: bigint): string {
  const text = dateTime64Text(ms, 3).replace(' ', 'T');
  const [y] = civilFromDays(Number((ms - (((ms % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY)) / MS_PER_DAY));
  // (floor division of ms by a day: the day the instant falls in)
  // ISO 8601's expanded years (as JavaScript's toISOString): ±YYYYYY outside 0000–9999.
  if (y >= 0 && y <= 9999) return `${text}Z`;
  return `${y < 0 ? '-' : '+'}${pad(Math.abs(y), 6)}${text.slice(text.indexOf('-', y < 0 ? 1 : 0))}Z`;
}

export type TimestampLogical =
  | 'timestamp-millis'
  | 'local-timestamp-millis'
  | 'timestamp-micros'
  | 'local-timestamp-micros';

/** The exact text of an out-of-range timestamp, in the source's own form (see the table above). */
export function exactTimestampText(ticks: bigint, logical: TimestampLogical): string {
  switch (logical) {
    case 'timestamp-micros':
      return pgTimestamptzToText(ticks);
    case 'local-timestamp-micros':
      return pgTimestampToText(ticks);
    default:
      return isoMillis(ticks);
  }
}

/** Avro timestamp ticks → the DateTime64 text; out of range: the nearest bound, the exact text noted. */
export function dateTime64Value(value: unknown, logical: TimestampLogical, note?: OutOfRangeNote): string {
  const ticks = BigInt(value as bigint | number);
  const digits = logical.endsWith('millis') ? 3 : 6;
  const perDay = digits === 3 ? MS_PER_DAY : MS_PER_DAY * 1000n;
  const min = BigInt(MIN_DAYS) * perDay;
  const max = BigInt(MAX_DAYS + 1) * perDay - 1n;
  if (ticks < min || ticks > max) {
    note?.('', exactTimestampText(ticks, logical));
    return dateTime64Text(ticks < min ? min : max, digits);
  }
  return dateTime64Text(ticks, digits);
}

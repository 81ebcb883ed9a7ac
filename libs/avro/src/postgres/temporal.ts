/**
 * PostgreSQL date/time text (DateStyle `ISO`, IntervalStyle `postgres`: the server defaults,
 * which the capture sets on its replication connection) to Avro's numeric forms and back.
 *
 * - date: days since 1970-01-01 (Avro `date`). PostgreSQL's calendar is the proleptic
 *   Gregorian one for every year, BC included (`0001-01-01 BC` is astronomical year 0).
 * - time: microseconds since midnight (Avro `time-micros`); PostgreSQL allows `24:00:00`,
 *   which is kept as 86 400 000 000.
 * - timestamp / timestamptz: microseconds since 1970-01-01T00:00 (local / UTC). PostgreSQL
 *   counts from 2000 in an int64, so its last ~30 years (after 294247-01-10T04:00:54.775806Z)
 *   do not fit an int64 counted from 1970: those values are rejected, never wrapped.
 * - `infinity` / `-infinity`: the largest / smallest value of the Avro type (int32 for dates,
 *   int64 for timestamps), the same sentinels PostgreSQL uses internally. No real value maps
 *   to them.
 * - interval: `{ months, days, micros }`, PostgreSQL's own three fields, because a month and a
 *   day have no fixed length. `infinity` / `-infinity` (PostgreSQL 17) are all three fields at
 *   their maximum / minimum, which is PostgreSQL 17's own representation.
 */
import { CdcError } from '@cdc/core';

export const INT32_MIN = -(2 ** 31);
export const INT32_MAX = 2 ** 31 - 1;
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
const MICROS_PER_DAY = 86_400_000_000n;
const MICROS_PER_DAY_NUMBER = 86_400_000_000;

export interface PgInterval {
  months: number;
  days: number;
  micros: bigint;
}

/** Thrown for text that is not what PostgreSQL prints for the type; callers add the column. */
export function badText(type: string, text: string, why?: string): CdcError {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return new CdcError('POISON_RECORD', `not a valid ${type} value: '${shown}'${why ? ` (${why})` : ''}`, {
    context: { pgType: type },
  });
}

/** Days from 1970-01-01 to the proleptic Gregorian date y-m-d (y astronomical: 1 BC is 0). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * The civil date of `days` since 1970 as one number, year·10000 + month·100 + day (any year; the
 * year is `Math.floor(n / 10000)`): for a hot loop that formats dates without an array per call.
 */
export function civilNumberFromDays(days: number): number {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return (yoe + era * 400 + (month <= 2 ? 1 : 0)) * 10000 + month * 100 + day;
}

export function civilFromDays(days: number): [year: number, month: number, day: number] {
  const n = civilNumberFromDays(days);
  const year = Math.floor(n / 10000);
  const md = n - year * 10000;
  return [year, Math.floor(md / 100), md % 100];
}

const pad = (n: number | bigint, width: number): string => n.toString().padStart(width, '0');

const DATE = String.raw`(\d{4,})-(\d{2})-(\d{2})`;
const TIME = String.raw`(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?`;
const OFFSET = String.raw`([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?`;
const DATE_RE = new RegExp(`^${DATE}( BC)?$`);
const TIME_RE = new RegExp(`^${TIME}$`);
const TIMETZ_RE = new RegExp(`^${TIME}${OFFSET}$`);
const TIMESTAMP_RE = new RegExp(`^${DATE} ${TIME}( BC)?$`);
const TIMESTAMPTZ_RE = new RegExp(`^${DATE} ${TIME}${OFFSET}( BC)?$`);

function dateDays(
  type: string,
  text: string,
  y: string,
  m: string,
  d: string,
  bc: string | undefined,
): number {
  const year = Number(y);
  const month = Number(m);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31) throw badText(type, text);
  return daysFromCivil(bc ? 1 - year : year, month, day);
}

// Times of day and offsets are computed in plain numbers (at most 99:59:59.999999, far below
// 2^53): BigInt arithmetic per value was a tenth of the snapshot's row decoding.

function timeMicros(
  type: string,
  text: string,
  h: string,
  m: string,
  s: string,
  frac: string | undefined,
): number {
  const minutes = Number(m);
  const seconds = Number(s);
  const micros =
    ((Number(h) * 60 + minutes) * 60 + seconds) * 1_000_000 + (frac ? Number(frac.padEnd(6, '0')) : 0);
  if (micros > MICROS_PER_DAY_NUMBER || minutes > 59 || seconds > 59) throw badText(type, text);
  return micros;
}

function offsetMicros(sign: string, h: string, m: string | undefined, s: string | undefined): number {
  const micros = ((Number(h) * 60 + Number(m ?? 0)) * 60 + Number(s ?? 0)) * 1_000_000;
  return sign === '-' ? -micros : micros;
}

/** Microseconds from 1970 of a day and a time in it: in numbers while exact (±273 years), else BigInt. */
function instantMicros(days: number, micros: number, offset: number): bigint {
  if (days > -100_000 && days < 100_000) return BigInt(days * MICROS_PER_DAY_NUMBER + micros - offset);
  return BigInt(days) * MICROS_PER_DAY + BigInt(micros) - BigInt(offset);
}

function formatDate(days: number): string {
  const [year, month, day] = civilFromDays(days);
  const bc = year <= 0;
  return `${pad(bc ? 1 - year : year, 4)}-${pad(month, 2)}-${pad(day, 2)}${bc ? ' BC' : ''}`;
}

function formatTime(micros: bigint): string {
  const frac = micros % 1_000_000n;
  const secs = micros / 1_000_000n;
  const base = `${pad(secs / 3600n, 2)}:${pad((secs / 60n) % 60n, 2)}:${pad(secs % 60n, 2)}`;
  return frac === 0n ? base : `${base}.${pad(frac, 6).replace(/0+$/, '')}`;
}

export function dateFromText(text: string): number {
  if (text === 'infinity') return INT32_MAX;
  if (text === '-infinity') return INT32_MIN;
  const m = DATE_RE.exec(text);
  if (!m) throw badText('date', text);
  return dateDays('date', text, m[1] as string, m[2] as string, m[3] as string, m[4]);
}

export function dateToText(days: number): string {
  if (days === INT32_MAX) return 'infinity';
  if (days === INT32_MIN) return '-infinity';
  return formatDate(days);
}

export function timeFromText(text: string): bigint {
  const m = TIME_RE.exec(text);
  if (!m) throw badText('time', text);
  return BigInt(timeMicros('time', text, m[1] as string, m[2] as string, m[3] as string, m[4]));
}

export function timeToText(micros: bigint): string {
  return formatTime(micros);
}

/**
 * timetz stays a string, `HH:MM:SS[.ffffff]±HH:MM[:SS]` (ISO 8601 extended, the offset always
 * with minutes): a time with an offset but no date cannot become an instant, and the offset is
 * part of the value (PostgreSQL compares `12:00+01` and `11:00+00` as different).
 */
export function timetzFromText(text: string): string {
  const m = TIMETZ_RE.exec(text);
  if (!m) throw badText('timetz', text);
  timeMicros('timetz', text, m[1] as string, m[2] as string, m[3] as string, m[4]);
  const [, h, mi, s, frac, sign, oh, om, os] = m;
  return `${h}:${mi}:${s}${frac ? `.${frac}` : ''}${sign}${oh}:${om ?? '00'}${os ? `:${os}` : ''}`;
}

function checkedMicros(type: string, text: string, micros: bigint): bigint {
  if (micros <= INT64_MIN || micros >= INT64_MAX) {
    throw badText(
      type,
      text,
      'beyond 294247-01-10 04:00:54.775806 (either way), the last instant an int64 of microseconds from 1970 holds; PostgreSQL counts from 2000 and reaches 294276: the value cannot be replicated',
    );
  }
  return micros;
}

export function timestampFromText(text: string): bigint {
  if (text === 'infinity') return INT64_MAX;
  if (text === '-infinity') return INT64_MIN;
  const m = TIMESTAMP_RE.exec(text);
  if (!m) throw badText('timestamp', text);
  const days = dateDays('timestamp', text, m[1] as string, m[2] as string, m[3] as string, m[8]);
  const micros = timeMicros('timestamp', text, m[4] as string, m[5] as string, m[6] as string, m[7]);
  return checkedMicros('timestamp', text, instantMicros(days, micros, 0));
}

export function timestamptzFromText(text: string): bigint {
  if (text === 'infinity') return INT64_MAX;
  if (text === '-infinity') return INT64_MIN;
  const m = TIMESTAMPTZ_RE.exec(text);
  if (!m) throw badText('timestamptz', text);
  const days = dateDays('timestamptz', text, m[1] as string, m[2] as string, m[3] as string, m[12]);
  const micros = timeMicros('timestamptz', text, m[4] as string, m[5] as string, m[6] as string, m[7]);
  const offset = offsetMicros(m[8] as string, m[9] as string, m[10], m[11]);
  return checkedMicros('timestamptz', text, instantMicros(days, micros, offset));
}

function splitMicros(micros: bigint): [days: number, timeOfDay: bigint] {
  let days = micros / MICROS_PER_DAY;
  let rest = micros % MICROS_PER_DAY;
  if (rest < 0n) {
    rest += MICROS_PER_DAY;
    days -= 1n;
  }
  return [Number(days), rest];
}

export function timestampToText(micros: bigint): string {
  if (micros === INT64_MAX) return 'infinity';
  if (micros === INT64_MIN) return '-infinity';
  const [days, time] = splitMicros(micros);
  const date = formatDate(days);
  const bc = date.endsWith(' BC');
  return `${bc ? date.slice(0, -3) : date} ${formatTime(time)}${bc ? ' BC' : ''}`;
}

/** In UTC, as PostgreSQL prints it with `TimeZone = UTC`. */
export function timestamptzToText(micros: bigint): string {
  if (micros === INT64_MAX) return 'infinity';
  if (micros === INT64_MIN) return '-infinity';
  const [days, time] = splitMicros(micros);
  const date = formatDate(days);
  const bc = date.endsWith(' BC');
  return `${bc ? date.slice(0, -3) : date} ${formatTime(time)}+00${bc ? ' BC' : ''}`;
}

const INTERVAL_RE =
  /^(?:([+-]?\d+) years? ?)?(?:([+-]?\d+) mons? ?)?(?:([+-]?\d+) days? ?)?(?:([+-])?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$/;
export const INTERVAL_INFINITY: PgInterval = { months: INT32_MAX, days: INT32_MAX, micros: INT64_MAX };
export const INTERVAL_MINUS_INFINITY: PgInterval = { months: INT32_MIN, days: INT32_MIN, micros: INT64_MIN };

export function intervalFromText(text: string): PgInterval {
  if (text === 'infinity') return { ...INTERVAL_INFINITY };
  if (text === '-infinity') return { ...INTERVAL_MINUS_INFINITY };
  const m = INTERVAL_RE.exec(text);
  if (!m || text === '') throw badText('interval', text, 'expected IntervalStyle postgres');
  const [, years, mons, days, sign, h, mi, s, frac] = m;
  const months = Number(years ?? 0) * 12 + Number(mons ?? 0);
  const dayCount = Number(days ?? 0);
  let micros = 0n;
  if (h !== undefined) {
    micros = ((BigInt(h) * 60n + BigInt(mi as string)) * 60n + BigInt(s as string)) * 1_000_000n;
    micros += BigInt((frac ?? '').padEnd(6, '0') || '0');
    if (sign === '-') micros = -micros;
  }
  if (months < INT32_MIN || months > INT32_MAX || dayCount < INT32_MIN || dayCount > INT32_MAX) {
    throw badText('interval', text, 'out of range');
  }
  if (micros < INT64_MIN || micros > INT64_MAX) throw badText('interval', text, 'out of range');
  return { months, days: dayCount, micros };
}

export function intervalToText(v: PgInterval): string {
  const { months, days, micros } = v;
  if (months === INT32_MAX && days === INT32_MAX && micros === INT64_MAX) return 'infinity';
  if (months === INT32_MIN && days === INT32_MIN && micros === INT64_MIN) return '-infinity';
  const abs = micros < 0n ? -micros : micros;
  const frac = abs % 1_000_000n;
  const secs = abs / 1_000_000n;
  const time = `${micros < 0n ? '-' : ''}${pad(secs / 3600n, 2)}:${pad((secs / 60n) % 60n, 2)}:${pad(secs % 60n, 2)}${
    frac === 0n ? '' : `.${pad(frac, 6).replace(/0+$/, '')}`
  }`;
  return `${months} mons ${days} days ${time}`;
}

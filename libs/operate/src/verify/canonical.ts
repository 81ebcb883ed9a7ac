/**
 * One text form per value, computed on both sides of `cdc verify`: PostgreSQL gives its text
 * output (the capture's session settings: ISO dates, UTC, hex bytea, shortest exact floats),
 * ClickHouse gives JSONEachRow values of the types the sink mapped them to. Per kind:
 *
 * | kind | PostgreSQL text | ClickHouse | canonical |
 * |---|---|---|---|
 * | bool | `t` / `f` | Bool `true` | `true` / `false` |
 * | int | `42` | Int* (64-bit quoted) | decimal integer |
 * | float4 / float8 | `1.1`, `NaN`, `Infinity` | Float32/64 (`nan`, `inf` quoted or null) | shortest text of the float32/float64 value; `NaN`, `Infinity`, `-Infinity` |
 * | numeric | `12.50` | Decimal (quoted) or String | no trailing fraction zeros, no `-0` |
 * | date | `2024-01-02` | Date32 | as is |
 * | timestamp(tz) | `2024-01-02 03:04:05.5+00` | DateTime64(6,'UTC') | `YYYY-MM-DD HH:MM:SS.ffffff` (UTC), ` BC` kept |
 * | date / timestamp outside 1900–2299, ±infinity, BC | the text | the exact text in `_out_of_range` (the column holds the nearest bound) | as for in-range values |
 * | time | `03:04:05.5` | Int64 micros since midnight | micros since midnight |
 * | timetz | `03:04:05+05` | String `03:04:05+05:00` | the offset with minutes |
 * | uuid | `…` | UUID | lower case |
 * | json / jsonb | JSON text | String | JSON with sorted keys, no spaces |
 * | bytea | `\x0aff` | String of raw bytes, read as `lower(hex(c))` | lower-case hex |
 * | interval | `1 year 2 mons 3 days 04:05:06` | Tuple(months, days, micros) | `months,days,micros` |
 * | array of any kind | `{1,NULL,"a b"}` | Array | JSON array of canonical elements |
 * | anything else | text | String (PostgreSQL's text) | as is |
 *
 * NULL is `\N` everywhere (a NULL array reads `[]` in ClickHouse, so NULL and `{}` both give `[]`).
 */

export type Kind =
  | 'bool'
  | 'int'
  | 'float4'
  | 'float8'
  | 'numeric'
  | 'date'
  | 'timestamp'
  | 'time'
  | 'timetz'
  | 'uuid'
  | 'json'
  | 'bytea'
  | 'interval'
  | 'text';

export interface ColumnKind {
  kind: Kind;
  array: boolean;
}

export const NULL_TEXT = '\\N';

/** PostgreSQL type name (`pg_type.typname`, `_int4` for arrays) → kind. */
export function kindOf(typname: string): ColumnKind {
  const array = typname.startsWith('_');
  const base = array ? typname.slice(1) : typname;
  const map: Record<string, Kind> = {
    bool: 'bool',
    int2: 'int',
    int4: 'int',
    int8: 'int',
    oid: 'int',
    float4: 'float4',
    float8: 'float8',
    numeric: 'numeric',
    date: 'date',
    timestamp: 'timestamp',
    timestamptz: 'timestamp',
    time: 'time',
    timetz: 'timetz',
    uuid: 'uuid',
    json: 'json',
    jsonb: 'json',
    bytea: 'bytea',
    interval: 'interval',
  };
  return { kind: map[base] ?? 'text', array };
}

export function canonicalDecimal(s: string): string {
  let t = s.trim();
  if (/^[+-]?(nan|infinity|inf)$/i.test(t)) return canonicalSpecial(t);
  let neg = false;
  if (t.startsWith('-')) {
    neg = true;
    t = t.slice(1);
  } else if (t.startsWith('+')) t = t.slice(1);
  if (/e/i.test(t)) return String(Number(s));
  let [int = '0', frac = ''] = t.split('.');
  int = int.replace(/^0+(?=\d)/, '');
  frac = frac.replace(/0+$/, '');
  const body = frac ? `${int || '0'}.${frac}` : int || '0';
  return neg && body !== '0' ? `-${body}` : body;
}

function canonicalSpecial(t: string): string {
  const l = t.toLowerCase();
  if (l.includes('nan')) return 'NaN';
  return l.startsWith('-') ? '-Infinity' : 'Infinity';
}

function canonicalFloat(v: unknown, single: boolean): string {
  if (v === null || v === undefined) return NULL_TEXT;
  const t = String(v);
  if (/^[+-]?(nan|infinity|inf)$/i.test(t)) return canonicalSpecial(t);
  const n = Number(t);
  return String(single ? Math.fround(n) : n);
}

/** `2024-01-02 03:04:05.5+00` / `2024-01-02T03:04:05.500000` → `2024-01-02 03:04:05.500000`. */
export function canonicalTimestamp(s: string): string {
  if (/^-?infinity$/.test(s)) return s;
  const m = /^(\d{4,}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d(?::?\d\d)?)?( BC)?$/.exec(
    s.trim(),
  );
  if (!m) return s;
  const [, date, time, frac = '', tz, bc = ''] = m;
  let micros = `${frac}000000`.slice(0, 6);
  let text = `${date} ${time}.${micros}`;
  if (tz && tz !== 'Z' && !/^[+-]00(:?00)?$/.test(tz)) {
    // Another offset: shift to UTC through epoch milliseconds (rare: verify reads with timezone=UTC).
    const ms = Date.parse(`${date}T${time}.${micros.slice(0, 3)}${tz.length === 3 ? `${tz}:00` : tz}`);
    micros = micros.slice(3);
    text = `${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}${micros}`;
  }
  return `${text}${bc}`;
}

/** `03:04:05.5` → micros since midnight. */
export function timeMicros(s: string): string {
  const m = /^(\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(s.trim());
  if (!m) return s;
  const micros = BigInt(`${m[4] ?? ''}000000`.slice(0, 6));
  return String(
    ((BigInt(m[1] as string) * 60n + BigInt(m[2] as string)) * 60n + BigInt(m[3] as string)) * 1_000_000n +
      micros,
  );
}

/** `03:04:05.5+05` / `03:04:05.5+05:00` → `03:04:05.5+05:00` (PostgreSQL leaves out zero minutes, the capture does not). */
export function canonicalTimetz(s: string): string {
  const m = /^(\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(s.trim());
  if (!m) return s;
  return `${m[1]}${m[2]}:${m[3] ?? '00'}${m[4] && m[4] !== '00' ? `:${m[4]}` : ''}`;
}

/** PostgreSQL interval text (`intervalstyle=postgres`) → `months,days,micros`. */
export function intervalParts(s: string): string {
  // PostgreSQL 17's infinite intervals: every field at its limit, as the capture writes them.
  if (s === 'infinity') return '2147483647,2147483647,9223372036854775807';
  if (s === '-infinity') return '-2147483648,-2147483648,-9223372036854775808';
  let months = 0n;
  let days = 0n;
  let micros = 0n;
  const re = /([+-]?\d+) (years?|mons?|days?)|([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d+))?/g;
  for (const m of s.matchAll(re)) {
    if (m[2]) {
      const n = BigInt(m[1] as string);
      if (m[2].startsWith('year')) months += n * 12n;
      else if (m[2].startsWith('mon')) months += n;
      else days += n;
    } else {
      const v =
        ((BigInt(m[4] as string) * 60n + BigInt(m[5] as string)) * 60n + BigInt(m[6] as string)) *
          1_000_000n +
        BigInt(`${m[7] ?? ''}000000`.slice(0, 6));
      micros += m[3] === '-' ? -v : v;
    }
  }
  return `${months},${days},${micros}`;
}

/** Stable JSON: object keys sorted, no spaces. */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}

function canonicalJsonText(s: string): string {
  try {
    return stableJson(JSON.parse(s));
  } catch {
    return s;
  }
}

/** A PostgreSQL array literal (`{1,NULL,"a \"b\""}`, nested) → nested arrays of strings and nulls. */
export function parsePgArray(s: string): unknown[] {
  let i = 0;
  // Optional dimension decoration: `[1:3]={…}`.
  if (s.startsWith('[')) i = s.indexOf('=') + 1;
  const parse = (): unknown[] => {
    if (s[i] !== '{') throw new Error(`not an array literal: ${s}`);
    i++;
    const out: unknown[] = [];
    if (s[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      if (s[i] === '{') out.push(parse());
      else if (s[i] === '"') {
        i++;
        let v = '';
        while (s[i] !== '"') {
          if (s[i] === '\\') i++;
          v += s[i];
          i++;
        }
        i++;
        out.push(v);
      } else {
        let v = '';
        while (s[i] !== ',' && s[i] !== '}') v += s[i++];
        out.push(v === 'NULL' ? null : v);
      }
      if (s[i] === ',') i++;
      else if (s[i] === '}') {
        i++;
        return out;
      } else throw new Error(`bad array literal at ${i}: ${s}`);
    }
  };
  return parse();
}

/** A scalar of PostgreSQL's text output → canonical. */
export function fromPostgresScalar(kind: Kind, text: string | null): string {
  if (text === null) return NULL_TEXT;
  switch (kind) {
    case 'bool':
      return text === 't' || text === 'true' ? 'true' : 'false';
    case 'int':
      return String(BigInt(text));
    case 'float4':
      return canonicalFloat(text, true);
    case 'float8':
      return canonicalFloat(text, false);
    case 'numeric':
      return canonicalDecimal(text);
    case 'timestamp':
      return canonicalTimestamp(text);
    case 'time':
      return timeMicros(text);
    case 'timetz':
      return canonicalTimetz(text);
    case 'uuid':
      return text.toLowerCase();
    case 'json':
      return canonicalJsonText(text);
    case 'bytea':
      return text.startsWith('\\x') ? text.slice(2).toLowerCase() : text;
    case 'interval':
      return intervalParts(text);
    default:
      return text;
  }
}

/** A scalar of ClickHouse's JSONEachRow output → canonical. */
export function fromClickHouseScalar(kind: Kind, v: unknown): string {
  if (v === null || v === undefined) return NULL_TEXT;
  switch (kind) {
    case 'bool':
      return v === true || v === 1 || v === 'true' || v === '1' ? 'true' : 'false';
    case 'int':
      return String(BigInt(v as string | number));
    case 'float4':
      return canonicalFloat(v, true);
    case 'float8':
      return canonicalFloat(v, false);
    case 'numeric':
      return canonicalDecimal(String(v));
    case 'timestamp':
      return canonicalTimestamp(String(v));
    case 'time':
      return String(v);
    case 'timetz':
      return canonicalTimetz(String(v));
    case 'uuid':
      return String(v).toLowerCase();
    case 'json':
      return typeof v === 'string' ? canonicalJsonText(v) : stableJson(v);
    case 'bytea':
      return String(v).toLowerCase();
    case 'interval': {
      if (typeof v === 'object') {
        const o = v as Record<string, unknown>;
        const [months, days, micros] = Array.isArray(v) ? v : [o.months, o.days, o.micros];
        return `${String(months)},${String(days)},${String(micros)}`;
      }
      return String(v);
    }
    default:
      return typeof v === 'string' ? v : JSON.stringify(v);
  }
}

export function fromPostgres(col: ColumnKind, text: string | null): string {
  if (!col.array) return fromPostgresScalar(col.kind, text);
  if (text === null) return '[]';
  const walk = (a: unknown[]): unknown[] =>
    a.map((e) => (Array.isArray(e) ? walk(e) : fromPostgresScalar(col.kind, e as string | null)));
  return JSON.stringify(walk(parsePgArray(text)));
}

/**
 * A ClickHouse value → canonical. `exact` is the row's `_out_of_range` map with the keys of this
 * column (`''` for the value itself, `[2]`, `[1][3]` for array elements): where it holds a text,
 * that is PostgreSQL's own text of the value the column could not hold.
 */
export function fromClickHouse(
  col: ColumnKind,
  v: unknown,
  exact?: (path: string) => string | undefined,
): string {
  if (!col.array) {
    const text = exact?.('');
    return text === undefined ? fromClickHouseScalar(col.kind, v) : fromPostgresScalar(col.kind, text);
  }
  if (v === null || v === undefined) return '[]';
  const walk = (a: unknown[], path: string): unknown[] =>
    a.map((e, i) => {
      const at = `${path}[${i + 1}]`;
      if (Array.isArray(e)) return walk(e, at);
      const text = exact?.(at);
      return text === undefined ? fromClickHouseScalar(col.kind, e) : fromPostgresScalar(col.kind, text);
    });
  return JSON.stringify(walk(v as unknown[], ''));
}

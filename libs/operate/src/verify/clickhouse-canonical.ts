/**
 * One text form per value of a ClickHouse column type, computed from either of the two forms a
 * value takes around the sink: what the sink inserts (its column mapping's output: bigints,
 * `seconds.fraction` for DateTime64, raw bytes, NaN as a number) and what ClickHouse returns
 * (JSONEachRow with 64-bit integers, decimals and non-finite floats quoted, named tuples as
 * objects). `cdc verify` uses it for MongoDB collections, whose expected row is computed the way
 * the sink computes it (see mongo-side.ts):
 *
 * | type | canonical |
 * |---|---|
 * | Nullable(T) | `null`, or T's |
 * | Bool | `true` / `false` |
 * | (U)Int8..256 | decimal integer |
 * | Float32 / Float64 | shortest text of the float32/float64 value; `NaN`, `Infinity`, `-Infinity` |
 * | Decimal(p, s) | no trailing fraction zeros, no `-0` |
 * | DateTime64(p, tz) | epoch ticks at precision p |
 * | Date / Date32 | `YYYY-MM-DD` |
 * | UUID | lower case |
 * | String | the text; bytes that are not UTF-8: `{"$hex": …}` |
 * | Array(T) | array of T's (NULL: `[]`) |
 * | Map(String, T) | object with sorted keys |
 * | Tuple(n T, …) | object by element name |
 * | LowCardinality(T), other | T's / the text |
 *
 * The result is JSON (`stableJson`), so nested values compare as text.
 */
import { canonicalDecimal, stableJson } from './canonical.ts';

export type ChType =
  | { kind: 'nullable'; inner: ChType }
  | { kind: 'array'; inner: ChType }
  | { kind: 'map'; value: ChType }
  | { kind: 'tuple'; names: string[]; elements: ChType[] }
  | { kind: 'scalar'; name: string; args: string[] };

/** Splits `a, b(c, d), e` at top-level commas. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (quote) {
      cur += ch;
      if (ch === '\\') cur += s[++i] ?? '';
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === "'" || ch === '`') quote = ch;
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

/** Parses a ClickHouse type as `system.columns` or the sink's DDL spells it. */
export function parseChType(text: string): ChType {
  const t = text.trim();
  const open = t.indexOf('(');
  if (open < 0 || !t.endsWith(')')) return { kind: 'scalar', name: t, args: [] };
  const name = t.slice(0, open);
  const args = splitArgs(t.slice(open + 1, -1));
  switch (name) {
    case 'Nullable':
      return { kind: 'nullable', inner: parseChType(args[0] as string) };
    case 'LowCardinality':
      return parseChType(args[0] as string);
    case 'Array':
      return { kind: 'array', inner: parseChType(args[0] as string) };
    case 'Map':
      return { kind: 'map', value: parseChType(args[1] as string) };
    case 'Tuple': {
      const names: string[] = [];
      const elements: ChType[] = [];
      args.forEach((a, i) => {
        const m = /^(`(?:[^`\\]|\\.)*`|[A-Za-z_][A-Za-z0-9_]*)\s+(.+)$/s.exec(a);
        if (m && !/^[A-Z][A-Za-z0-9]*$/.test(a)) {
          const raw = m[1] as string;
          names.push(raw.startsWith('`') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
          elements.push(parseChType(m[2] as string));
        } else {
          names.push(String(i + 1));
          elements.push(parseChType(a));
        }
      });
      return { kind: 'tuple', names, elements };
    }
    default:
      return { kind: 'scalar', name, args };
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function bytesValue(bytes: Uint8Array): unknown {
  try {
    return utf8.decode(bytes);
  } catch {
    return { $hex: Buffer.from(bytes).toString('hex') };
  }
}

function floatText(v: unknown, single: boolean): string {
  const t = String(v);
  if (/^[+-]?(nan|inf|infinity)$/i.test(t)) {
    const l = t.toLowerCase();
    if (l.includes('nan')) return 'NaN';
    return l.startsWith('-') ? '-Infinity' : 'Infinity';
  }
  const n = Number(t);
  return String(single ? Math.fround(n) : n);
}

/** `seconds.fraction` (what the sink inserts) or `YYYY-MM-DD HH:MM:SS.fff` (what ClickHouse returns) → ticks. */
function dateTimeTicks(v: unknown, precision: number): string {
  const t = String(v);
  const unit = 10n ** BigInt(precision);
  const plain = /^(-?)(\d+)(?:\.(\d+))?$/.exec(t);
  if (plain) {
    const frac = BigInt(`${plain[3] ?? ''}${'0'.repeat(precision)}`.slice(0, precision) || '0');
    const abs = BigInt(plain[2] as string) * unit + frac;
    return String(plain[1] === '-' ? -abs : abs);
  }
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))?/.exec(t);
  if (!m) return t;
  const seconds = BigInt(Date.parse(`${m[1]}T${m[2]}Z`) / 1000);
  const frac = BigInt(`${m[3] ?? ''}${'0'.repeat(precision)}`.slice(0, precision) || '0');
  return String(seconds * unit + frac);
}

function dateText(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint')
    return new Date(Number(v) * 86_400_000).toISOString().slice(0, 10);
  return String(v);
}

function scalar(name: string, args: string[], v: unknown): unknown {
  if (/^U?Int\d+$/.test(name)) return String(BigInt(v as string | number | bigint));
  switch (name) {
    case 'Bool':
      return v === true || v === 1 || v === 'true' || v === '1';
    case 'Float32':
      return floatText(v, true);
    case 'Float64':
      return floatText(v, false);
    case 'Decimal':
      return canonicalDecimal(String(v));
    case 'DateTime64':
      return dateTimeTicks(v, Number(args[0] ?? 3));
    case 'Date':
    case 'Date32':
      return dateText(v);
    case 'UUID':
      return String(v).toLowerCase();
    case 'String':
      if (v instanceof Uint8Array) return bytesValue(v);
      if (typeof v === 'object' && v !== null && 'bytes' in v)
        return bytesValue((v as { bytes: Uint8Array }).bytes);
      return typeof v === 'string' ? v : String(v);
    default:
      return typeof v === 'bigint' ? String(v) : v;
  }
}

function canonicalValue(type: ChType, v: unknown): unknown {
  switch (type.kind) {
    case 'nullable':
      return v === null || v === undefined ? null : canonicalValue(type.inner, v);
    case 'array':
      return ((v ?? []) as unknown[]).map((x) => canonicalValue(type.inner, x));
    case 'map':
      return Object.fromEntries(
        Object.entries((v ?? {}) as Record<string, unknown>).map(([k, x]) => [
          k,
          canonicalValue(type.value, x),
        ]),
      );
    case 'tuple': {
      const get = (i: number): unknown => {
        if (v === null || v === undefined) return null;
        if (Array.isArray(v)) return v[i];
        return (v as Record<string, unknown>)[type.names[i] as string];
      };
      return Object.fromEntries(
        type.names.map((n, i) => [n, canonicalValue(type.elements[i] as ChType, get(i))]),
      );
    }
    case 'scalar':
      return v === null || v === undefined ? null : scalar(type.name, type.args, v);
  }
}

/** The canonical text of a value of `type`, from what the sink inserts or what ClickHouse returns. */
export function canonicalCh(type: ChType, v: unknown): string {
  return stableJson(canonicalValue(type, v));
}

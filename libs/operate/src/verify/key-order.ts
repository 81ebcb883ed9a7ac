/**
 * One key order for both databases, for tables whose primary key is not a single integer
 * (uuid, text, composite). Pure.
 *
 * PostgreSQL orders text by the database collation (`en_US`: case and punctuation weighed late),
 * ClickHouse orders String by bytes, and ClickHouse orders UUID by its two 64-bit halves, not by
 * the text. So neither side's own order is used: every key is encoded into bytes whose plain
 * byte order is the key's order, computed by the same rules inside PostgreSQL (bytea, compared
 * with memcmp), inside ClickHouse (String, compared bytewise) and here (hex text). Ranges,
 * split points and predicates are all on this encoding, so both sides select exactly the same
 * rows for a range whatever the collation. Per key column, concatenated in key order:
 *
 * | kind | bytes | PostgreSQL | ClickHouse |
 * |---|---|---|---|
 * | int (int2/4/8) | 8 bytes big-endian, sign bit flipped | `int8send(k::int8 # min)` | `unhex(leftPad(hex(bitXor(…))))` |
 * | uuid | the 16 bytes (= order of the lower-case text) | `uuid_send(k)` | `UUIDStringToNum(toString(k))` |
 * | text | UTF-8 bytes, then one 0x00 (text holds no NUL) | `convert_to(k, 'UTF8') \|\| '\x00'` | `concat(k, '\0')` |
 *
 * Each part is self-delimiting (fixed width, or ended by a byte no value holds), so the byte
 * order of the whole is the order of the tuple, column by column.
 */

export type KeyKind = 'int' | 'uuid' | 'text';

export interface KeyColumn {
  name: string;
  kind: KeyKind;
  /** The ClickHouse column name. */
  chName: string;
  /**
   * A text column whose PostgreSQL collation is byte order (`C`, `POSIX`, `C.UTF-8`): its index
   * can narrow a range and give the encoding's order.
   */
  pgByteOrder?: boolean;
}

/** A half-open range of encoded keys `[lo, hi)`, lower-case hex; null: unbounded. */
export interface HexRange {
  lo: string | null;
  hi: string | null;
}

export const WHOLE: HexRange = { lo: null, hi: null };

const SIGN = 1n << 63n;
const U64 = (1n << 64n) - 1n;

/** The encoding of one key (canonical values of its columns, as `canonical.ts` gives them), hex. */
export function encodeKey(columns: readonly { kind: KeyKind }[], values: readonly string[]): string {
  if (values.length !== columns.length)
    throw new Error(`a key of ${columns.length} column(s) got ${values.length} value(s)`);
  let out = '';
  columns.forEach((c, i) => {
    const v = values[i] as string;
    switch (c.kind) {
      case 'int':
        out += ((BigInt(v) ^ SIGN) & U64).toString(16).padStart(16, '0');
        break;
      case 'uuid': {
        const hex = v.toLowerCase().replaceAll('-', '');
        if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a uuid: ${v}`);
        out += hex;
        break;
      }
      case 'text':
        out += `${Buffer.from(v, 'utf8').toString('hex')}00`;
        break;
    }
  });
  return out;
}

/** The key values of an encoding (the inverse of `encodeKey`). */
export function decodeKey(columns: readonly { kind: KeyKind }[], hex: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (const c of columns) {
    switch (c.kind) {
      case 'int': {
        const u = BigInt(`0x${hex.slice(at, at + 16)}`) ^ SIGN;
        out.push(String(u >= SIGN ? u - (1n << 64n) : u));
        at += 16;
        break;
      }
      case 'uuid': {
        const h = hex.slice(at, at + 32);
        out.push(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`);
        at += 32;
        break;
      }
      case 'text': {
        // Bytes up to the 0x00 on a byte boundary.
        let end = at;
        while (end < hex.length && hex.slice(end, end + 2) !== '00') end += 2;
        out.push(Buffer.from(hex.slice(at, end), 'hex').toString('utf8'));
        at = end + 2;
        break;
      }
    }
  }
  return out;
}

/** Byte order of two encodings (lower-case hex of bytes compares as the bytes do). */
export const compareHex = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const pgIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;
const chIdent = (s: string) => `\`${s.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;

/** The encoding as a PostgreSQL bytea expression over the table's columns. */
export function pgKeyExpression(columns: readonly KeyColumn[]): string {
  return columns
    .map((c) => {
      const k = pgIdent(c.name);
      switch (c.kind) {
        case 'int':
          return `int8send(${k}::int8 # '-9223372036854775808'::int8)`;
        case 'uuid':
          return `uuid_send(${k})`;
        default:
          return `(convert_to(${k}, 'UTF8') || '\\x00'::bytea)`;
      }
    })
    .join(' || ');
}

/** The encoding as a ClickHouse String expression over the replica's columns. */
export function chKeyExpression(columns: readonly KeyColumn[]): string {
  const parts = columns.map((c) => {
    const k = chIdent(c.chName);
    switch (c.kind) {
      case 'int':
        return `unhex(leftPad(hex(bitXor(reinterpretAsUInt64(toInt64(${k})), toUInt64(9223372036854775808))), 16, '0'))`;
      case 'uuid':
        // Through hex: `toString` of the FixedString(16) would drop trailing zero bytes.
        return `unhex(hex(UUIDStringToNum(toString(${k}))))`;
      default:
        return `concat(${k}, '\\0')`;
    }
  });
  return parts.length === 1 ? (parts[0] as string) : `concat(${parts.join(', ')})`;
}

const hexOk = (h: string) => {
  if (!/^([0-9a-f]{2})*$/.test(h)) throw new Error(`not a key encoding: ${h}`);
  return h;
};
export const pgBytes = (hex: string) => `'\\x${hexOk(hex)}'::bytea`;
export const chBytes = (hex: string) => `unhex('${hexOk(hex)}')`;

/** `expr` within `range`, as SQL of either side (`bytes` renders a literal). */
export function rangeCondition(expr: string, range: HexRange, bytes: (hex: string) => string): string {
  const c: string[] = [];
  if (range.lo !== null) c.push(`${expr} >= ${bytes(range.lo)}`);
  if (range.hi !== null) c.push(`${expr} < ${bytes(range.hi)}`);
  return c.length > 0 ? c.join(' AND ') : '1 = 1';
}

/**
 * The range of the first key column's own values that `range` spans: an extra condition an
 * index on the key can use, for a database that orders that column as the encoding does (an
 * integer; a uuid in PostgreSQL; text in ClickHouse, or in PostgreSQL under a byte-order
 * collation: `text` true). Inclusive; null: none.
 */
export function leadingBounds(
  columns: readonly KeyColumn[],
  range: HexRange,
  text = false,
): { lo: string | null; hi: string | null } {
  const first = columns[0];
  if (!first || (first.kind === 'text' && !text)) return { lo: null, hi: null };
  const part = (h: string | null) => {
    if (h === null) return null;
    let end = first.kind === 'int' ? 16 : first.kind === 'uuid' ? 32 : 0;
    if (first.kind === 'text') {
      while (end < h.length && h.slice(end, end + 2) !== '00') end += 2;
      end += 2;
    }
    // A bound shorter than one whole first column (not made by these functions): no shortcut.
    if (h.length < end) return null;
    return decodeKey([first], h.slice(0, end))[0] as string;
  };
  return { lo: part(range.lo), hi: part(range.hi) };
}

/**
 * The sub-ranges of `range` cut at `splits` (sorted, inside the range): bucket i is
 * `[splits[i-1], splits[i])`, the first from `range.lo`, the last to `range.hi`. A key's bucket is
 * the number of split points ≤ the key (PostgreSQL `width_bucket`, ClickHouse `arrayCount`).
 */
export function subRanges(range: HexRange, splits: readonly string[]): HexRange[] {
  const out: HexRange[] = [];
  let lo = range.lo;
  for (const s of splits) {
    out.push({ lo, hi: s });
    lo = s;
  }
  out.push({ lo, hi: range.hi });
  return out;
}

/** The bucket of an encoded key among sorted split points. */
export function bucketOf(splits: readonly string[], hex: string): number {
  let lo = 0;
  let hi = splits.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareHex(splits[mid] as string, hex) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

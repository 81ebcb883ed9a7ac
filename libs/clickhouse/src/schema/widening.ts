/**
 * Which column type changes keep every value a column holds, so that the sink applies them in
 * place (`ALTER TABLE … MODIFY COLUMN`) instead of stopping the table: a PostgreSQL
 * `int4 → int8`, `real → double precision`, `numeric(10,2) → numeric(12,4)`, a `NOT NULL`
 * dropped, a timestamp's precision raised. The reverse direction (a record of an older schema
 * version arriving after the column was widened) needs no change: its values fit the wider
 * column as they are.
 *
 * Types are ClickHouse's canonical spellings (`system.columns`), e.g. `Nullable(Int32)`,
 * `Decimal(10, 2)`, `DateTime64(3, 'UTC')`.
 */

const INT_BITS: Record<string, number> = {
  Int8: 8,
  Int16: 16,
  Int32: 32,
  Int64: 64,
  Int128: 128,
  Int256: 256,
};
const UINT_BITS: Record<string, number> = {
  UInt8: 8,
  UInt16: 16,
  UInt32: 32,
  UInt64: 64,
  UInt128: 128,
  UInt256: 256,
};

function unwrap(type: string, wrapper: string): string | undefined {
  const prefix = `${wrapper}(`;
  return type.startsWith(prefix) && type.endsWith(')') ? type.slice(prefix.length, -1) : undefined;
}

function decimal(type: string): { precision: number; scale: number } | undefined {
  const m = /^Decimal\((\d+),\s*(\d+)\)$/.exec(type);
  return m ? { precision: Number(m[1]), scale: Number(m[2]) } : undefined;
}

function dateTime64(type: string): { digits: number; zone: string } | undefined {
  const m = /^DateTime64\((\d+)(?:,\s*(.+))?\)$/.exec(type);
  return m ? { digits: Number(m[1]), zone: m[2] ?? '' } : undefined;
}

/** Whether every value of a `from` column is exactly a value of a `to` column. */
export function widens(from: string, to: string): boolean {
  if (from === to) return true;
  const fromInner = unwrap(from, 'Nullable');
  const toInner = unwrap(to, 'Nullable');
  // NULL fits only a Nullable column; a value of T fits Nullable(T').
  if (fromInner !== undefined) return toInner !== undefined && widens(fromInner, toInner);
  if (toInner !== undefined) return widens(from, toInner);
  const lf = unwrap(from, 'LowCardinality');
  const lt = unwrap(to, 'LowCardinality');
  if (lf !== undefined || lt !== undefined) return widens(lf ?? from, lt ?? to);

  const fi = INT_BITS[from];
  const fu = UINT_BITS[from];
  const ti = INT_BITS[to];
  const tu = UINT_BITS[to];
  if (fi !== undefined && ti !== undefined) return ti >= fi;
  if (fu !== undefined && tu !== undefined) return tu >= fu;
  if (fu !== undefined && ti !== undefined) return ti > fu;
  // Float64 holds every integer up to 2^53 exactly.
  if (to === 'Float64') return from === 'Float32' || (fi ?? 64) <= 32 || (fu ?? 64) <= 32;
  const df = decimal(from);
  const dt = decimal(to);
  if (df && dt) return dt.scale >= df.scale && dt.precision - dt.scale >= df.precision - df.scale;
  if (dt && (fi !== undefined || fu !== undefined)) {
    const digits = Math.ceil(((fi ?? fu) as number) * Math.log10(2));
    return dt.precision - dt.scale >= digits;
  }
  const tf = dateTime64(from);
  const tt = dateTime64(to);
  if (tf && tt) return tt.zone === tf.zone && tt.digits >= tf.digits;
  if (from === 'Date' && (to === 'Date32' || tt !== undefined)) return true;
  const af = unwrap(from, 'Array');
  const at = unwrap(to, 'Array');
  if (af !== undefined && at !== undefined) return widens(af, at);
  return false;
}

/**
 * MongoDB field names → Avro names. MongoDB allows almost anything in a field name (`$`, `.`,
 * spaces, a leading digit, any Unicode, the empty string); Avro allows `[A-Za-z_][A-Za-z0-9_]*`.
 *
 * The mapping: every character outside `[A-Za-z0-9_]` becomes `_`, a leading digit gets a `_`
 * in front, the empty name becomes `_`. When that name is already taken in the same record
 * (`a.b` and `a_b` both map to `a_b`) the later field gets `_2`, `_3`, … appended. A field whose
 * Avro name differs from its MongoDB name carries `cdc.originalName` with the MongoDB name, so
 * the mapping is reversible from the schema alone; a field without it has the same name in both.
 * Names are assigned once, in the order fields are first seen, and kept in the inference state,
 * so a field keeps its Avro name in every later schema version.
 */

/**
 * Avro field names a MongoDB field never gets: the one the inference writes itself, and
 * `__proto__`, which JS consumers cannot hold as a plain property.
 */
export const RESERVED_FIELD_NAMES: ReadonlySet<string> = new Set(['__cdc_nulls', '__proto__']);

const VALID = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isValidAvroName(name: string): boolean {
  return VALID.test(name);
}

/** The Avro name a MongoDB field name maps to before collisions are resolved. */
export function sanitizeName(original: string): string {
  if (original === '') return '_';
  // Iterate by code point so that one astral character becomes one `_`.
  let out = '';
  for (const ch of original) out += /^[A-Za-z0-9_]$/.test(ch) ? ch : '_';
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

/**
 * The Avro name for a new field `original` in a record whose Avro names are `taken`: the
 * sanitised name, or it with the smallest suffix `_n` (n ≥ 2) that is free.
 */
export function allocateName(original: string, taken: ReadonlySet<string>): string {
  const base = sanitizeName(original);
  if (!taken.has(base) && !RESERVED_FIELD_NAMES.has(base)) return base;
  for (let n = 2; ; n++) {
    const candidate = `${base}_${n}`;
    if (!taken.has(candidate) && !RESERVED_FIELD_NAMES.has(candidate)) return candidate;
  }
}

/**
 * Renamed columns, recognised by identity rather than guessed from names: a PostgreSQL field
 * carries its column's `attnum` (`cdc.attnum`), which `RENAME COLUMN` keeps. Comparing a table's
 * new row schema with the one registered before it, a field whose `attnum` had another name is
 * the same column renamed: it gets `aliases: [<old field>]` (so the registry's compatibility check
 * and any Avro reader resolve old records to it, a NOT NULL column included) and
 * `cdc.renamedFrom: <old column name>` (so the sink renames the ClickHouse column, keeping its
 * values and history, instead of adding an empty one).
 *
 *   const before = columnsByAttnum(registeredSchemaText); // Map { 3 => { field: 'label', column: 'label' } }
 *   const row = withRenames(newRow, before);              // field `title` (attnum 3): aliases ['label']
 */
import type { AvroField, AvroRecordSchema } from '@cdc/avro';

export interface KnownColumn {
  /** The Avro field name. */
  field: string;
  /** The source column name (`cdc.column`, else the field name). */
  column: string;
}

const attnumOf = (f: AvroField): number | undefined =>
  typeof f['cdc.attnum'] === 'number' ? (f['cdc.attnum'] as number) : undefined;

/** The columns of a row record by `attnum` (fields without one are left out). */
export function columnsOfRow(row: AvroRecordSchema): Map<number, KnownColumn> {
  const out = new Map<number, KnownColumn>();
  for (const f of row.fields) {
    const attnum = attnumOf(f);
    if (attnum === undefined) continue;
    out.set(attnum, {
      field: f.name,
      column: typeof f['cdc.column'] === 'string' ? f['cdc.column'] : f.name,
    });
  }
  return out;
}

/**
 * The columns by `attnum` of the row record inside a registered value schema (the envelope's
 * `after`, ours or Debezium's): the first record whose fields carry `cdc.attnum`. Empty when
 * there is none (a schema from before `cdc.attnum`, or not a PostgreSQL table).
 */
export function columnsByAttnum(schemaText: string): Map<number, KnownColumn> {
  let found: Map<number, KnownColumn> | undefined;
  const walk = (node: unknown): void => {
    if (found || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    const o = node as { type?: unknown; fields?: unknown };
    if (o.type === 'record' && Array.isArray(o.fields)) {
      const fields = o.fields as AvroField[];
      if (fields.some((f) => attnumOf(f) !== undefined)) {
        found = columnsOfRow(o as AvroRecordSchema);
        return;
      }
      for (const f of fields) walk(f.type);
      return;
    }
    walk(o.type);
  };
  try {
    walk(JSON.parse(schemaText));
  } catch {
    return new Map();
  }
  return found ?? new Map();
}

/** `row` with `aliases` and `cdc.renamedFrom` on each field whose `attnum` had another name in `before`. */
export function withRenames(
  row: AvroRecordSchema,
  before: ReadonlyMap<number, KnownColumn>,
): AvroRecordSchema {
  if (before.size === 0) return row;
  const names = new Set(row.fields.map((f) => f.name));
  let renamed = false;
  const fields = row.fields.map((f) => {
    const attnum = attnumOf(f);
    const old = attnum === undefined ? undefined : before.get(attnum);
    const column = typeof f['cdc.column'] === 'string' ? f['cdc.column'] : f.name;
    if (!old || old.column === column) return f;
    renamed = true;
    return {
      ...f,
      // An alias naming another field would make the schema invalid (a new column took the old
      // name): then only the sink hears of the rename.
      ...(old.field === f.name || names.has(old.field) ? {} : { aliases: [old.field] }),
      'cdc.renamedFrom': old.column,
    };
  });
  return renamed ? { ...row, fields } : row;
}

/**
 * A row as pgoutput delivers it (each column's PostgreSQL TEXT form, or NULL) → the Avro
 * record value `avsc` encodes for the derived row schema, and back (for tests and tools).
 *
 * Text may arrive as bytes: a database whose encoding is SQL_ASCII stores whatever bytes
 * clients sent and hands them out unconverted, so a `text` column can hold bytes that are not
 * UTF-8. Decoding those with replacement characters would change the data silently; an Avro
 * `string` cannot hold them. Such a value is rejected with a POISON_RECORD CdcError naming the
 * table and column (the capture sends the record to the dead-letter topic with the raw bytes).
 * Pass bytes (`Uint8Array`) whenever the source may not be UTF-8; strings are taken as is.
 */
import { CdcError, isCdcError } from '@cdc/core';
import type { PgColumnMapping, PgRowSchema } from './row-schema.ts';

export type PgTextValue = string | Uint8Array | null;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function columnContext(rs: PgRowSchema, c: PgColumnMapping) {
  return {
    table: `${rs.relation.schema}.${rs.relation.name}`,
    column: c.column.name,
    pgType: String(c.mapping.attributes['cdc.type']),
  };
}

/** The Avro value of one column's text (a non-null value). */
export function pgColumnValueFromText(
  rs: PgRowSchema,
  c: PgColumnMapping,
  value: string | Uint8Array,
): unknown {
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    try {
      text = utf8.decode(value);
    } catch (cause) {
      const context = columnContext(rs, c);
      throw new CdcError(
        'POISON_RECORD',
        `${context.table}.${context.column} (${context.pgType}) holds ${value.length} bytes that are not valid UTF-8 ` +
          '(a SQL_ASCII database keeps whatever bytes were written): fix the value, or store such data in a bytea column',
        { context, cause },
      );
    }
  }
  try {
    return c.mapping.fromText(text);
  } catch (cause) {
    if (!isCdcError(cause)) throw cause;
    // Built only on failure: it is two strings per column and row otherwise.
    const context = columnContext(rs, c);
    throw new CdcError(
      cause.code,
      `${context.table}.${context.column} (${context.pgType}): ${cause.message}`,
      {
        context,
        cause,
      },
    );
  }
}

/** The row record of `values` (one per column, in relation order; null for SQL NULL). */
export function pgRowFromText(rs: PgRowSchema, values: readonly PgTextValue[]): Record<string, unknown> {
  if (values.length !== rs.columns.length) {
    throw new CdcError(
      'INVARIANT_VIOLATED',
      `${rs.relation.schema}.${rs.relation.name}: a row of ${values.length} columns for a relation of ${rs.columns.length}; the relation changed without a new description`,
      { context: { table: `${rs.relation.schema}.${rs.relation.name}` } },
    );
  }
  const record: Record<string, unknown> = {};
  const columns = rs.columns;
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i] as PgColumnMapping;
    const value = values[i] ?? null;
    if (value === null && c.column.notNull) {
      throw new CdcError(
        'POISON_RECORD',
        `${rs.relation.schema}.${rs.relation.name}.${c.column.name} is NOT NULL but came as NULL`,
        {
          context: columnContext(rs, c),
        },
      );
    }
    record[c.field] = value === null ? null : pgColumnValueFromText(rs, c, value);
  }
  return record;
}

/** The key record of a row record: its key columns' values. */
export function pgKeyFromRow(rs: PgRowSchema, row: Record<string, unknown>): Record<string, unknown> {
  const key: Record<string, unknown> = {};
  for (const c of rs.columns) if (c.column.isKey) key[c.field] = row[c.field];
  return key;
}

/** Back to PostgreSQL text (timestamptz in UTC), which PostgreSQL reads as the same values. */
export function pgRowToText(rs: PgRowSchema, row: Record<string, unknown>): (string | null)[] {
  return rs.columns.map((c) => {
    const v = row[c.field];
    return v === null || v === undefined ? null : c.mapping.toText(v);
  });
}

/**
 * Reads a relation's description from the catalog, as the capture does after a pgoutput
 * Relation message: the columns pgoutput sends (by `attnum`, without dropped and generated
 * columns), their types resolved through arrays and domains down to base types, enum labels,
 * and the primary key. Takes any client with pg's `query(text, values)`.
 *
 *   const relation = await readPgRelation(client, { schema: 'public', table: 'orders' });
 *   const { row, keyFields } = derivePgRowSchema(relation);
 */
import { CdcError } from '@cdc/core';
import type { PgColumn, PgRelation, PgType, PgTypeKind } from './relation.ts';

export interface PgQueryable {
  query<R extends object>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

interface ColumnRow {
  relschema: string;
  relname: string;
  attname: string;
  atttypid: number;
  atttypmod: number;
  attnotnull: boolean;
  attndims: number;
  is_key: boolean;
  missing: string | null;
  attnum: number;
}

interface TypeRow {
  oid: number;
  nspname: string;
  typname: string;
  typtype: string;
  is_array: boolean;
  typelem: number;
  typdelim: string;
  typbasetype: number;
  typtypmod: number;
  labels: string[] | null;
}

/**
 * The value rows written before a column was added read (`ADD COLUMN … DEFAULT <constant>`), as
 * text: `attmissingval` is a one-element array of the column's type.
 */
export const MISSING_VALUE_SQL = 'CASE WHEN a.atthasmissing THEN (a.attmissingval::text::text[])[1] END';

const COLUMNS_SQL = `
SELECT n.nspname AS relschema, c.relname, a.attname, a.atttypid::int8 AS atttypid, a.atttypmod, a.attnotnull,
       a.attndims, coalesce(a.attnum = ANY (i.indkey), false) AS is_key, ${MISSING_VALUE_SQL} AS missing, a.attnum::int AS attnum
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.oid = $1::oid
ORDER BY a.attnum`;

// Arrays: category A with an element and variable length (excludes int2vector/oidvector-like
// fixed forms whose text is not an array literal).
const TYPES_SQL = `
SELECT t.oid::int8 AS oid, n.nspname, t.typname, t.typtype::text AS typtype,
       (t.typcategory = 'A' AND t.typelem <> 0 AND t.typlen = -1
        AND t.typname NOT IN ('int2vector', 'oidvector')) AS is_array,
       t.typelem::int8 AS typelem, t.typdelim::text AS typdelim, t.typbasetype::int8 AS typbasetype, t.typtypmod,
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS labels
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid = ANY ($1::oid[])`;

const KINDS: Record<string, PgTypeKind> = {
  b: 'base',
  c: 'composite',
  d: 'domain',
  e: 'enum',
  p: 'pseudo',
  r: 'range',
  m: 'multirange',
};

/** Resolves `oids` and every type they refer to (array elements, domain bases). */
export async function readPgTypes(
  client: PgQueryable,
  oids: readonly number[],
): Promise<Map<number, PgType>> {
  const rows = new Map<number, TypeRow>();
  let pending = [...new Set(oids)];
  while (pending.length > 0) {
    const { rows: found } = await client.query<TypeRow>(TYPES_SQL, [pending]);
    for (const r of found) rows.set(Number(r.oid), r);
    const missing = pending.filter((oid) => !rows.has(oid));
    if (missing.length > 0) {
      throw new CdcError(
        'SOURCE_UNSUPPORTED',
        `type OIDs ${missing.join(', ')} are not in pg_type: was a type dropped?`,
        {
          context: { oids: missing.map(String) },
        },
      );
    }
    pending = [
      ...new Set(
        found
          .flatMap((r) => [r.is_array ? Number(r.typelem) : 0, Number(r.typbasetype)])
          .filter((oid) => oid !== 0 && !rows.has(oid)),
      ),
    ];
  }
  const types = new Map<number, PgType>();
  const build = (oid: number): PgType => {
    const done = types.get(oid);
    if (done) return done;
    const r = rows.get(oid) as TypeRow;
    const type: PgType = {
      oid,
      schema: r.nspname,
      name: r.typname,
      kind: r.is_array ? 'array' : (KINDS[r.typtype] ?? 'base'),
    };
    types.set(oid, type);
    if (r.is_array) {
      type.element = build(Number(r.typelem));
      type.delimiter = type.element.delimiter ?? rows.get(Number(r.typelem))?.typdelim ?? ',';
    }
    if (r.labels) type.labels = r.labels;
    if (r.typtype === 'd') {
      type.base = build(Number(r.typbasetype));
      type.baseTypmod = r.typtypmod;
    }
    if (!r.is_array && r.typdelim !== ',') type.delimiter = r.typdelim;
    return type;
  };
  for (const oid of rows.keys()) build(oid);
  return types;
}

/**
 * The relation `{ schema, table }` (or its OID, as in a Relation message) as pgoutput sends
 * its rows. `isKey` is the primary key here; a capture using another replica identity
 * overrides it from the Relation message's key flags.
 */
export async function readPgRelation(
  client: PgQueryable,
  relation: { schema: string; table: string } | { oid: number },
): Promise<PgRelation> {
  let oid: number;
  if ('oid' in relation) oid = relation.oid;
  else {
    const { rows } = await client.query<{ oid: string | null }>(
      'SELECT to_regclass(quote_ident($1) || $3 || quote_ident($2))::oid::int8 AS oid',
      [relation.schema, relation.table, '.'],
    );
    if (rows[0]?.oid == null) {
      throw new CdcError(
        'SOURCE_UNSUPPORTED',
        `table ${relation.schema}.${relation.table} does not exist or is not visible to this role`,
        {
          context: { table: `${relation.schema}.${relation.table}` },
        },
      );
    }
    oid = Number(rows[0].oid);
  }
  const { rows } = await client.query<ColumnRow>(COLUMNS_SQL, [oid]);
  const first = rows[0];
  if (!first) {
    throw new CdcError('SOURCE_UNSUPPORTED', `relation ${oid} has no columns or does not exist`, {
      context: { oid },
    });
  }
  const types = await readPgTypes(
    client,
    rows.map((r) => Number(r.atttypid)),
  );
  const columns = rows.map(
    (r): PgColumn => ({
      name: r.attname,
      type: types.get(Number(r.atttypid)) as PgType,
      typmod: r.atttypmod,
      notNull: r.attnotnull,
      isKey: r.is_key,
      ...(r.attndims > 1 ? { dimensions: r.attndims } : {}),
      ...(r.missing !== null ? { missing: r.missing } : {}),
      attnum: r.attnum,
    }),
  );
  return { schema: first.relschema, name: first.relname, columns };
}

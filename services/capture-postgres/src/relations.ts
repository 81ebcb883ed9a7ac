/**
 * A table as the capture writes it: built from a pgoutput Relation message (the columns as
 * the stream sends them at that point, so a later `ALTER TABLE` cannot confuse the rows
 * before it), completed from the catalog (type details, NOT NULL, primary key).
 *
 * Keys (the record key of every change, so all changes of a row land in one partition):
 * - the primary key;
 * - no primary key, `REPLICA IDENTITY USING INDEX`: the index's columns;
 * - no primary key (identity DEFAULT, NOTHING or FULL): a keyless table. Its records have a
 *   null key and all go to partition 0, so its changes stay in commit order; the sink keeps
 *   it as an append-only log (every change one row, with `_op`). PostgreSQL itself refuses
 *   UPDATE and DELETE on such a table under DEFAULT or NOTHING while a publication publishes
 *   them, so only inserts (and truncates) arrive; under FULL updates carry the new row and
 *   deletes the old one. Never a stop: a table turned keyed later (ADD PRIMARY KEY) gets keys
 *   from its next change on, whatever the Relation messages still in the slot say.
 */
import {
  derivePgRowSchema,
  MISSING_VALUE_SQL,
  type PgColumn,
  type PgQueryable,
  type PgRelation,
  type PgRowSchema,
  readPgTypes,
} from '@cdc/avro';
import type { RelationMessage } from './pgoutput/decoder.ts';

export interface CapturedTable {
  oid: number;
  schema: string;
  table: string;
  replicaIdentity: RelationMessage['replicaIdentity'];
  rowSchema: PgRowSchema;
  /** False for a keyless table (no primary key and no replica identity index). */
  hasKey: boolean;
  /** Per column: may its value be TOASTed (varlena)? */
  toastable: boolean[];
}

interface CatalogColumn {
  attname: string;
  attnotnull: boolean;
  attndims: number;
  is_pk: boolean;
  typlen: number;
  missing: string | null;
  attnum: number;
  atttypid: string;
}

const CATALOG_SQL = `
SELECT a.attname, a.attnotnull, a.attndims, t.typlen,
       coalesce(a.attnum = ANY (i.indkey), false) AS is_pk, ${MISSING_VALUE_SQL} AS missing, a.attnum::int AS attnum,
       a.atttypid::int8 AS atttypid
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum`;

export async function describeRelation(client: PgQueryable, msg: RelationMessage): Promise<CapturedTable> {
  const { rows } = await client.query<CatalogColumn>(CATALOG_SQL, [msg.oid]);
  // The catalog is read now, which may be after later DDL: a column renamed since the message
  // is found by its position when the columns are otherwise the same (pgoutput sends them in
  // attnum order, without dropped and generated ones), else by name.
  const byName = new Map(rows.map((r) => [r.attname, r]));
  // Only when every column not found by name sits where a column of the same type does, under a
  // name the message does not have (a drop plus an add is not a rename).
  const names = new Set(msg.columns.map((c) => c.name));
  const samePositions =
    rows.length === msg.columns.length &&
    msg.columns.some((c) => !byName.has(c.name)) &&
    msg.columns.every((c, i) => {
      const r = rows[i] as CatalogColumn;
      return r.attname === c.name || (!names.has(r.attname) && Number(r.atttypid) === c.typeOid);
    });
  if (samePositions) for (const [i, c] of msg.columns.entries()) byName.set(c.name, rows[i] as CatalogColumn);
  const types = await readPgTypes(
    client,
    msg.columns.map((c) => c.typeOid),
  );
  const hasPk = rows.some((r) => r.is_pk);
  let keyOf: (c: RelationMessage['columns'][number], cat: CatalogColumn | undefined) => boolean;
  if (hasPk) keyOf = (_c, cat) => cat?.is_pk === true;
  else if (msg.replicaIdentity === 'i') keyOf = (c) => (c.flags & 1) === 1;
  else keyOf = () => false;
  const columns = msg.columns.map((c): PgColumn => {
    const cat = byName.get(c.name);
    return {
      name: c.name,
      type: types.get(c.typeOid) as PgColumn['type'],
      typmod: c.typmod,
      notNull: cat?.attnotnull === true,
      isKey: keyOf(c, cat),
      ...(cat && cat.attndims > 1 ? { dimensions: cat.attndims } : {}),
      ...(cat?.missing != null ? { missing: cat.missing } : {}),
      ...(cat ? { attnum: cat.attnum } : {}),
    };
  });
  const relation: PgRelation = { schema: msg.schema, name: msg.name, columns };
  return {
    oid: msg.oid,
    schema: msg.schema,
    table: msg.name,
    replicaIdentity: msg.replicaIdentity,
    rowSchema: derivePgRowSchema(relation),
    hasKey: columns.some((c) => c.isKey),
    toastable: msg.columns.map((c) => (byName.get(c.name)?.typlen ?? -1) === -1),
  };
}

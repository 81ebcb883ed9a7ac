/**
 * A table read by a snapshot (initial or incremental), described from the catalog as a
 * Relation message would describe it, with its topic and schemas prepared.
 */
import type { TopicSchemas } from '@cdc/capture';
import { topicFor } from '@cdc/core';
import type pg from 'pg';
import type { RelationMessage } from '../pgoutput/decoder.ts';
import { describeRelation } from '../relations.ts';
import type { TableRoute } from '../streaming/change-records.ts';
import type { TableTransforms } from '../streaming/table-transforms.ts';

const RELATION_SQL = `
SELECT c.oid::int8 AS oid, c.relreplident::text AS ident, c.reltuples::int8 AS estimate,
       a.attname, a.atttypid::int8 AS typeoid, a.atttypmod,
       (c.relreplident = 'f' OR coalesce(a.attnum = ANY (ri.indkey), false)) AS in_identity,
       coalesce(a.attnum = ANY (pk.indkey), false) AS is_pk
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
LEFT JOIN pg_index ri ON ri.indrelid = c.oid
  AND ((c.relreplident = 'd' AND ri.indisprimary) OR (c.relreplident = 'i' AND ri.indisreplident))
LEFT JOIN pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
WHERE n.nspname = $1 AND c.relname = $2
ORDER BY a.attnum`;

export interface DescribedTable {
  route: TableRoute;
  /** The planner's row estimate (reltuples; 0 when never analysed). */
  estimate: number;
}

/** `schema.table` (a bare name means `public`), or null when the table does not exist. */
export async function describeTable(
  client: pg.ClientBase,
  name: string,
  prefix: string,
  db: string,
  topics: TopicSchemas,
  transforms: TableTransforms,
): Promise<DescribedTable | null> {
  const [schema, table] = splitName(name);
  const { rows } = await client.query<{
    oid: string;
    ident: string;
    estimate: string;
    attname: string;
    typeoid: string;
    atttypmod: number;
    in_identity: boolean;
    is_pk: boolean;
  }>(RELATION_SQL, [schema, table]);
  const first = rows[0];
  if (!first) return null;
  const msg: RelationMessage = {
    tag: 'relation',
    oid: Number(first.oid),
    schema,
    name: table,
    replicaIdentity: first.ident as RelationMessage['replicaIdentity'],
    columns: rows.map((r) => ({
      flags: r.in_identity ? 1 : 0,
      name: r.attname,
      typeOid: Number(r.typeoid),
      typmod: Number(r.atttypmod),
    })),
  };
  const captured = await describeRelation(client, msg);
  const transform = transforms.compile(captured);
  const prepared = await topics.prepare(
    topicFor(prefix, { db, schema, table }),
    transform.row,
    transform.keyFields,
  );
  return { route: { captured, prepared, transform }, estimate: Math.max(0, Number(first.estimate)) };
}

export function splitName(name: string): [string, string] {
  const dot = name.indexOf('.');
  return dot < 0 ? ['public', name] : [name.slice(0, dot), name.slice(dot + 1)];
}

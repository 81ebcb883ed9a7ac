/**
 * A PostgreSQL relation as the capture sees it: the columns of a pgoutput Relation message
 * (name, type OID, typmod, key flag), completed by a catalog lookup (type names, NOT NULL,
 * array element types, enum labels, domain base types). `readPgRelation` in `catalog.ts` builds
 * one from a live database; capture-postgres builds one per Relation message.
 */

/** `pg_type.typtype` spelled out; arrays are base types whose element is another type. */
export type PgTypeKind =
  | 'base'
  | 'array'
  | 'enum'
  | 'domain'
  | 'composite'
  | 'range'
  | 'multirange'
  | 'pseudo';

export interface PgType {
  oid: number;
  /** `pg_namespace.nspname` of the type: `pg_catalog` for the built-ins. */
  schema: string;
  /** `pg_type.typname`, e.g. `int4`, `timestamptz`, `_int4` (an array), `mood` (an enum). */
  name: string;
  kind: PgTypeKind;
  /** Arrays: the element type. */
  element?: PgType;
  /** Arrays: the element delimiter in the text form (`,` for all but `box`). */
  delimiter?: string;
  /** Enums: the labels in sort order, as read when the relation was described. */
  labels?: string[];
  /** Domains: the type the domain is over, and the typmod it applies to it. */
  base?: PgType;
  baseTypmod?: number;
}

export interface PgColumn {
  name: string;
  type: PgType;
  /** `pg_attribute.atttypmod`: -1 when the type has no modifier. */
  typmod: number;
  notNull: boolean;
  /** Part of the key that identifies a row (primary key, or the replica identity index). */
  isKey: boolean;
  /** `pg_attribute.attndims` for array columns (`int[][]` is 2); 0 or absent means 1. */
  dimensions?: number;
  /**
   * The value (PostgreSQL text form) that rows written before the column was added read: the
   * constant default of `ADD COLUMN … DEFAULT <constant>` (`pg_attribute.attmissingval`).
   * Carried into the Avro schema as the field's default (see `row-schema.ts`).
   */
  missing?: string;
  /**
   * `pg_attribute.attnum`: the column's identity, kept across `RENAME COLUMN`. Recorded in the
   * Avro field as `cdc.attnum`, so that a renamed column is recognised as the same column.
   */
  attnum?: number;
}

export interface PgRelation {
  schema: string;
  name: string;
  /** In pgoutput order: by `attnum`, without dropped and generated columns. */
  columns: PgColumn[];
}

/** The name recorded in `cdc.type`: the bare `typname` for built-ins, `schema.typname` otherwise. */
export function qualifiedTypeName(type: PgType): string {
  return type.schema === 'pg_catalog' ? type.name : `${type.schema}.${type.name}`;
}

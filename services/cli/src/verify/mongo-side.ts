/**
 * The MongoDB side of `cdc verify`: which collections a capture captures (its `include` list:
 * `db`, `db.collection`, or every database but admin, config and local), and each collection's
 * current documents as the rows the sink should hold for them.
 *
 * The expected row of a document is computed the way the pipeline computes it, so that both
 * sides can be put in one canonical form (clickhouse-canonical.ts) by the ClickHouse column type:
 * the document → its Avro value under the capture's own inferred schema (the inference state it
 * commits to its offsets topic, `mongo/<name>/schema/<db>.<collection>`, widened by the document
 * as the capture would) → the sink's column mapping of that schema (`deriveTableShape`). The key
 * is `_id` as canonical Extended JSON (the Kafka key, the sink's `_key_id` column).
 */
import { avroNamespaceFor, envelopeSchema, InferredSchema, mongoIdText, mongoKey } from '@cdc/avro';
import { quoteIdent as ident, quoteString } from '@cdc/core';
import type { MongoSource } from '@cdc/pipeline';
import { type Document, MongoClient } from 'mongodb';
import type { ClickHouseReader } from '../clickhouse-target.ts';
import { topicFor } from '../topics.ts';
import { canonicalCh, parseChType } from './clickhouse-canonical.ts';
import type { Rows } from './compare.ts';

export interface MongoCollection {
  db: string;
  collection: string;
  /** `<prefix>.<db>.<collection>`: the capture's schema namespace derives from it. */
  baseTopic: string;
  /** The capture's topic (`<prefix>.<db>.<collection>`, or its latest `.vN` when the schema had to move). */
  topic: string;
}

const SYSTEM_DBS = new Set(['admin', 'config', 'local']);

export async function connectMongo(source: MongoSource): Promise<MongoClient> {
  const client = new MongoClient(source.uri, {
    promoteValues: false,
    bsonRegExp: true,
    serverSelectionTimeoutMS: 10_000,
    connectTimeoutMS: 10_000,
    appName: `cdc-verify-${source.name}`,
  });
  await client.connect();
  return client;
}

/** The collections the capture captures, with their topics (`existingTopics` picks the latest `.vN`). */
export async function capturedCollections(
  client: MongoClient,
  source: MongoSource,
  existingTopics: readonly string[],
): Promise<MongoCollection[]> {
  const names: { db: string; collection: string }[] = [];
  const wholeDbs = source.include.filter((i) => !i.includes('.'));
  const single = source.include.filter((i) => i.includes('.'));
  let dbs = wholeDbs;
  if (source.include.length === 0) {
    const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
    dbs = databases.map((d) => d.name).filter((d) => !SYSTEM_DBS.has(d));
  }
  for (const db of dbs) {
    const cols = await client.db(db).listCollections({}, { nameOnly: true }).toArray();
    for (const c of cols)
      if (!c.name.startsWith('system.') && (c as { type?: string }).type !== 'view')
        names.push({ db, collection: c.name });
  }
  for (const s of single) {
    const dot = s.indexOf('.');
    names.push({ db: s.slice(0, dot), collection: s.slice(dot + 1) });
  }
  const prefix = source.topicPrefix ?? source.name;
  const have = new Set(existingTopics);
  return names
    .sort((a, b) => `${a.db}.${a.collection}`.localeCompare(`${b.db}.${b.collection}`))
    .map((n) => {
      const base = topicFor(prefix, n);
      let topic = base;
      for (let v = 2; have.has(`${base}.v${v}`); v++) topic = `${base}.v${v}`;
      return { ...n, baseTopic: base, topic };
    });
}

/** The capture's inference state of `db.collection`, from what its offsets topic holds. */
export function storedSchemaState(
  positions: ReadonlyMap<string, unknown>,
  source: MongoSource,
  c: MongoCollection,
): unknown {
  return positions.get(`mongo/${source.name}/schema/${c.db}.${c.collection}`);
}

export interface ExpectedRows {
  /** Column → ClickHouse type (as the sink maps the capture's schema). */
  columns: { name: string; type: string }[];
  rows: Rows;
  /** Documents the capture's schema cannot represent (the capture dead-letters them). */
  unrepresentable: number;
}

/**
 * Every current document as the sink's row, canonical, by key. Without a stored inference state
 * (the capture wrote nothing for the collection yet) the schema is inferred from the documents
 * themselves, as a fresh capture would.
 */
export async function readExpectedRows(
  client: MongoClient,
  c: MongoCollection,
  state: unknown,
): Promise<ExpectedRows> {
  const { deriveTableShape, OUT_OF_RANGE_COLUMN } = await import('@cdc/sink-clickhouse');
  const docs = await client.db(c.db).collection(c.collection).find({}).toArray();
  const inferred =
    state === undefined
      ? InferredSchema.create({ namespace: avroNamespaceFor(c.baseTopic) })
      : InferredSchema.fromJSON(structuredClone(state));
  let unrepresentable = 0;
  const representable: Document[] = [];
  for (const d of docs) {
    try {
      inferred.observe(d);
      representable.push(d);
    } catch {
      unrepresentable++;
    }
  }
  const shape = deriveTableShape({ value: envelopeSchema(c.topic, inferred.schema(), 'mongodb') });
  const columns = shape.columns.map((col) => ({ name: col.column, type: col.mapping.type }));
  // Dates ClickHouse cannot hold: the exact text the sink keeps beside the clamped column.
  columns.push({ name: OUT_OF_RANGE_COLUMN, type: OUT_OF_RANGE_TYPE });
  const types = shape.columns.map((col) => parseChType(col.mapping.type));
  const exactType = parseChType(OUT_OF_RANGE_TYPE);
  const rows: Rows = new Map();
  for (const d of representable) {
    const value = inferred.toAvro(d) as Record<string, unknown>;
    const key = mongoKey(d).id;
    const exact: Record<string, string> = {};
    const canonical = shape.columns.map((col, i) =>
      canonicalCh(
        types[i] as ReturnType<typeof parseChType>,
        // The sink writes `_id` from the key, one text form per BSON type.
        col.column === shape.mongoIdColumn
          ? mongoIdText(key)
          : col.mapping.convert(value[col.field] ?? null, (path, text) => {
              exact[`${col.column}${path}`] = text;
            }),
      ),
    );
    canonical.push(canonicalCh(exactType, exact));
    rows.set(key, canonical);
  }
  return { columns, rows, unrepresentable };
}

const OUT_OF_RANGE_TYPE = 'Map(String, String)';

export type MongoReplicaRead =
  | { exists: true; rows: Rows; missingColumns: string[]; typeChanged: string[] }
  | { exists: false };

/** `<table>_current` by `_key_id`, each column canonical by its ClickHouse type. */
export async function readMongoReplicaRows(
  reader: ClickHouseReader,
  database: string,
  table: string,
  expected: ExpectedRows,
): Promise<MongoReplicaRead> {
  const view = `${table}_current`;
  const found = await reader.query<{ name: string; type: string }>(
    `SELECT name, type FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(view)}`,
  );
  if (found.length === 0) return { exists: false };
  const have = new Map(found.map((c) => [c.name, c.type]));
  // A table the sink has not written since it gained `_out_of_range` reads as all rows in range.
  const optional = (name: string) => name === '_out_of_range';
  const missingColumns = expected.columns
    .filter((c) => !have.has(c.name) && !optional(c.name))
    .map((c) => c.name);
  // ClickHouse spells plain element names without the quotes the sink writes them with.
  const spelling = (t: string | undefined) =>
    (t ?? '').replace(/`([A-Za-z_][A-Za-z0-9_]*)`/g, '$1').replace(/\s+/g, ' ');
  const typeChanged = expected.columns
    .filter((c) => have.has(c.name) && spelling(have.get(c.name)) !== spelling(c.type))
    .map((c) => `${c.name} ${have.get(c.name)} (the capture's schema maps to ${c.type})`);
  // Top-level strings as hex: bytes that are not UTF-8 (MongoDB binaries) would not survive JSON.
  const isString = (type: string | undefined) => type === 'String' || type === 'Nullable(String)';
  const select = expected.columns.map((c) => {
    if (!have.has(c.name)) return optional(c.name) ? `map() AS ${ident(c.name)}` : `NULL AS ${ident(c.name)}`;
    return isString(have.get(c.name)) ? `hex(${ident(c.name)}) AS ${ident(c.name)}` : ident(c.name);
  });
  const rows = await reader.query<Record<string, unknown>>(
    `SELECT _key_id AS __key, ${select.join(', ')} FROM ${ident(database)}.${ident(view)} SETTINGS output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1, output_format_json_named_tuples_as_objects = 1`,
  );
  const types = expected.columns.map((c) => parseChType(have.get(c.name) ?? c.type));
  const out: Rows = new Map();
  for (const r of rows) {
    out.set(
      String(r.__key),
      expected.columns.map((c, i) => {
        const v = r[c.name];
        const value = isString(have.get(c.name)) && typeof v === 'string' ? Buffer.from(v, 'hex') : v;
        return canonicalCh(types[i] as ReturnType<typeof parseChType>, value);
      }),
    );
  }
  return { exists: true, rows: out, missingColumns, typeChanged };
}

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
 *
 * Memory stays bounded whatever the collection's size: the documents are read twice as a cursor
 * (once to widen the inferred schema, once to compare), a page at a time, and each page's rows
 * are looked up in ClickHouse by key; rows only ClickHouse has are found by paging its keys.
 */
import {
  avroNamespaceFor,
  envelopeSchema,
  InferredSchema,
  mongoIdText,
  mongoKey,
  mongoKeyToId,
} from '@cdc/avro';
import { type ClickHouseReader, deriveTableShape, OUT_OF_RANGE_COLUMN } from '@cdc/clickhouse';
import { quoteIdent as ident, quoteString } from '@cdc/core';
import type { MongoSource } from '@cdc/pipeline';
import { type Document, type Filter, MongoClient } from 'mongodb';
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

/** How the documents of a collection become the sink's rows (after a first pass over them). */
export interface CollectionShape {
  /** Column → ClickHouse type (as the sink maps the capture's schema). */
  columns: { name: string; type: string }[];
  /** A document's key and canonical row; undefined for one the capture cannot represent. */
  rowOf(document: Document): [string, string[]] | undefined;
  /** Keys of the documents the capture's schema cannot represent (the capture dead-letters them). */
  unrepresentable: Set<string>;
}

/**
 * The collection's row shape: the capture's stored inference state widened by every current
 * document, as the capture would (without a stored state, inferred from the documents as a fresh
 * capture would). Reads the documents once, as a cursor.
 */
export async function collectionShape(
  client: MongoClient,
  c: MongoCollection,
  state: unknown,
  /** Paces the read (called every `pageRows` documents). */
  pace?: { pageRows: number; took(rows: number): Promise<void> },
  /** Only these documents widen the stored schema (all of them when absent). */
  filter: Filter<Document> = {},
): Promise<CollectionShape> {
  const inferred =
    state === undefined
      ? InferredSchema.create({ namespace: avroNamespaceFor(c.baseTopic) })
      : InferredSchema.fromJSON(structuredClone(state));
  const unrepresentable = new Set<string>();
  let read = 0;
  for await (const d of client.db(c.db).collection(c.collection).find(filter)) {
    try {
      inferred.observe(d);
    } catch {
      unrepresentable.add(mongoKey(d).id);
    }
    if (pace && ++read >= pace.pageRows) {
      await pace.took(read);
      read = 0;
    }
  }
  await pace?.took(read);
  const shape = deriveTableShape({ value: envelopeSchema(c.topic, inferred.schema(), 'mongodb') });
  const columns = shape.columns.map((col) => ({ name: col.column, type: col.mapping.type }));
  // Dates ClickHouse cannot hold: the exact text the sink keeps beside the clamped column.
  columns.push({ name: OUT_OF_RANGE_COLUMN, type: OUT_OF_RANGE_TYPE });
  const types = shape.columns.map((col) => parseChType(col.mapping.type));
  const exactType = parseChType(OUT_OF_RANGE_TYPE);
  return {
    columns,
    unrepresentable,
    rowOf(d) {
      const key = mongoKey(d).id;
      if (unrepresentable.has(key)) return undefined;
      const value = inferred.toAvro(d) as Record<string, unknown>;
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
      return [key, canonical];
    },
  };
}

const OUT_OF_RANGE_TYPE = 'Map(String, String)';

/** `<table>_current` read by `_key_id`, each column canonical by its ClickHouse type. */
export interface MongoReplica {
  missingColumns: string[];
  typeChanged: string[];
  /** The rows of these keys (those that exist). */
  rowsOf(keys: readonly string[]): Promise<Rows>;
  /** The first `limit` rows after key `after` in key order (the sink's `_key_id` text). */
  rowsAfter(after: string | null, limit: number): Promise<{ rows: Rows; last: string | null }>;
  count(): Promise<number>;
}

export async function openMongoReplica(
  reader: ClickHouseReader,
  database: string,
  table: string,
  columns: readonly { name: string; type: string }[],
): Promise<MongoReplica | undefined> {
  const view = `${table}_current`;
  const found = await reader.query<{ name: string; type: string }>(
    `SELECT name, type FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(view)}`,
  );
  if (found.length === 0) return undefined;
  const have = new Map(found.map((c) => [c.name, c.type]));
  // A table the sink has not written since it gained `_out_of_range` reads as all rows in range.
  const optional = (name: string) => name === '_out_of_range';
  const missingColumns = columns.filter((c) => !have.has(c.name) && !optional(c.name)).map((c) => c.name);
  // ClickHouse spells plain element names without the quotes the sink writes them with.
  const spelling = (t: string | undefined) =>
    (t ?? '').replace(/`([A-Za-z_][A-Za-z0-9_]*)`/g, '$1').replace(/\s+/g, ' ');
  const typeChanged = columns
    .filter((c) => have.has(c.name) && spelling(have.get(c.name)) !== spelling(c.type))
    .map((c) => `${c.name} ${have.get(c.name)} (the capture's schema maps to ${c.type})`);
  // Top-level strings as hex: bytes that are not UTF-8 (MongoDB binaries) would not survive JSON.
  const isString = (type: string | undefined) => type === 'String' || type === 'Nullable(String)';
  const select = columns.map((c) => {
    if (!have.has(c.name)) return optional(c.name) ? `map() AS ${ident(c.name)}` : `NULL AS ${ident(c.name)}`;
    return isString(have.get(c.name)) ? `hex(${ident(c.name)}) AS ${ident(c.name)}` : ident(c.name);
  });
  const types = columns.map((c) => parseChType(have.get(c.name) ?? c.type));
  const from = `${ident(database)}.${ident(view)}`;
  const settings =
    'SETTINGS output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 1, output_format_json_quote_denormals = 1, output_format_json_named_tuples_as_objects = 1';
  const read = async (where: string, tail = ''): Promise<{ rows: Rows; last: string | null }> => {
    const rows = await reader.query<Record<string, unknown>>(
      `SELECT _key_id AS __key, ${select.join(', ')} FROM ${from} WHERE ${where} ${tail} ${settings}`,
    );
    const out: Rows = new Map();
    let last: string | null = null;
    for (const r of rows) {
      last = String(r.__key);
      out.set(
        last,
        columns.map((c, i) => {
          const v = r[c.name];
          const value = isString(have.get(c.name)) && typeof v === 'string' ? Buffer.from(v, 'hex') : v;
          return canonicalCh(types[i] as ReturnType<typeof parseChType>, value);
        }),
      );
    }
    return { rows: out, last };
  };
  return {
    missingColumns,
    typeChanged,
    rowsOf: async (keys) =>
      keys.length === 0 ? new Map() : (await read(`_key_id IN (${keys.map(quoteString).join(', ')})`)).rows,
    rowsAfter: (after, limit) =>
      read(after === null ? '1' : `_key_id > ${quoteString(after)}`, `ORDER BY _key_id LIMIT ${limit}`),
    count: async () => {
      const [r] = await reader.query<{ n: string }>(`SELECT toString(count()) AS n FROM ${from}`);
      return Number(r?.n ?? 0);
    },
  };
}

/** The documents of these keys (`_key_id` texts: canonical Extended JSON of the `_id`). */
export function keysFilter(keys: readonly string[]): Filter<Document> {
  return { _id: { $in: keys.map((k) => mongoKeyToId({ id: k })) as never[] } };
}

/** Which of these keys (`_key_id` texts) have a document in the collection. */
export async function existingKeys(
  client: MongoClient,
  c: MongoCollection,
  keys: readonly string[],
): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const found = await client
    .db(c.db)
    .collection(c.collection)
    .find(keysFilter(keys), { projection: { _id: 1 } })
    .toArray();
  return new Set(found.map((d) => mongoKey(d).id));
}

/** The documents of a collection, `pageRows` at a time (a cursor: memory stays bounded). */
export async function* documentPages(
  client: MongoClient,
  c: MongoCollection,
  pageRows: number,
  /** Only these documents (all of them when absent). */
  filter: Filter<Document> = {},
): AsyncGenerator<Document[]> {
  let page: Document[] = [];
  for await (const d of client.db(c.db).collection(c.collection).find(filter).batchSize(pageRows)) {
    page.push(d);
    if (page.length >= pageRows) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

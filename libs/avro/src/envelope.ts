/**
 * The change envelope's Avro schema, Debezium-compatible: for a table's row schema `R`,
 *
 *   record <ns>.Envelope { before: [null, R], after: [null, R], source: Source, op: string,
 *                          tsMs: long, changeId: string }
 *
 * The `source` records match `schemas/source-postgresql.avsc` and `schemas/source-mongodb.avsc`
 * (a test keeps them equal). Names are derived from the topic, as Debezium does
 * (`<topic>.Key`, `<topic>.Value`, `<topic>.Envelope`), so two tables never share a name.
 */
import type { AvroField, AvroRecordSchema } from './schema-types.ts';

const SNAPSHOT_DOC =
  "Where the record sits in a snapshot: 'true', 'first', 'last', 'incremental', or 'false' when streamed.";

export const POSTGRES_SOURCE_SCHEMA: AvroRecordSchema = {
  type: 'record',
  name: 'Source',
  namespace: 'io.cdc.postgresql',
  doc: 'Where a PostgreSQL change came from.',
  fields: [
    { name: 'connector', type: 'string' },
    { name: 'name', type: 'string', doc: 'The logical name of the capture (the topic prefix).' },
    { name: 'db', type: 'string' },
    { name: 'schema', type: 'string' },
    { name: 'table', type: 'string' },
    { name: 'lsn', type: 'string', doc: 'LSN of the change, as X/Y.' },
    { name: 'commitLsn', type: 'string', doc: 'Commit LSN of its transaction, as X/Y.' },
    { name: 'txId', type: ['null', 'string'], default: null },
    { name: 'tsMs', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'Source commit time.' },
    { name: 'snapshot', type: 'string', default: 'false', doc: SNAPSHOT_DOC },
  ],
};

export const MONGO_SOURCE_SCHEMA: AvroRecordSchema = {
  type: 'record',
  name: 'Source',
  namespace: 'io.cdc.mongodb',
  doc: 'Where a MongoDB change came from.',
  fields: [
    { name: 'connector', type: 'string' },
    { name: 'name', type: 'string', doc: 'The logical name of the capture (the topic prefix).' },
    { name: 'db', type: 'string' },
    { name: 'collection', type: 'string' },
    { name: 'resumeToken', type: 'string', doc: 'The change stream resume token (_data).' },
    { name: 'txId', type: ['null', 'string'], default: null },
    { name: 'tsMs', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'Source operation time.' },
    { name: 'snapshot', type: 'string', default: 'false', doc: SNAPSHOT_DOC },
  ],
};

/** Avro names allow [A-Za-z_][A-Za-z0-9_]*; a topic becomes a namespace of such parts. */
export function avroNamespaceFor(topic: string): string {
  return topic
    .split('.')
    .map((p) => {
      const s = p.replace(/[^A-Za-z0-9_]/g, '_');
      return /^[A-Za-z_]/.test(s) ? s : `_${s}`;
    })
    .join('.');
}

/**
 * The value schema of a CDC topic: the envelope around `row` (a record whose name is `Value`
 * in the topic's namespace). `before` and `after` both refer to that one record.
 */
export function envelopeSchema(
  topic: string,
  row: AvroRecordSchema,
  connector: 'postgresql' | 'mongodb',
): AvroRecordSchema {
  const namespace = avroNamespaceFor(topic);
  const value: AvroRecordSchema = { ...row, name: 'Value', namespace };
  const fields: AvroField[] = [
    { name: 'before', type: ['null', value], default: null },
    { name: 'after', type: ['null', `${namespace}.Value`], default: null },
    { name: 'source', type: connector === 'postgresql' ? POSTGRES_SOURCE_SCHEMA : MONGO_SOURCE_SCHEMA },
    {
      name: 'op',
      type: 'string',
      doc: 'r = snapshot read, c = create, u = update, d = delete, t = truncate.',
    },
    {
      name: 'tsMs',
      type: { type: 'long', logicalType: 'timestamp-millis' },
      doc: 'When the capture processed the change.',
    },
    {
      name: 'changeId',
      type: 'string',
      doc: 'Deterministic from the source position: the same on every replay.',
    },
  ];
  return { type: 'record', name: 'Envelope', namespace, fields, 'connect.name': `${topic}.Envelope` };
}

/** The key schema of a CDC topic: the primary key columns (or `_id`) as a record named `Key`. */
export function keySchema(topic: string, keyFields: AvroField[]): AvroRecordSchema {
  return { type: 'record', name: 'Key', namespace: avroNamespaceFor(topic), fields: keyFields };
}

/**
 * Debezium's change envelope, for `envelope: debezium` captures: the value schema and values
 * laid out as Debezium's PostgreSQL connector writes them through a registry's Avro converter,
 * so that consumers written for Debezium (ksqlDB, Flink's `debezium-avro-confluent` format,
 * scripts reading `source.lsn` and `ts_ms`) read our topics unchanged:
 *
 *   record <ns>.Envelope { before: [null, Value], after: [null, Value],
 *     source: io.debezium.connector.postgresql.Source { version, connector, name, ts_ms,
 *       snapshot, db, sequence, ts_us, ts_ns, schema, table, txId: long, lsn: long, xmin },
 *     transaction: [null, event.block], op, ts_ms, ts_us, ts_ns }
 *
 * The row record (`Value`) is the capture's own (column types as `@cdc/avro` maps them; Debezium
 * maps temporal columns to `io.debezium.time.*` longs instead). There is no `changeId`: a
 * consumer orders a key's changes by `source.lsn` (the sink does, see its `version.ts`).
 * `source.sequence` is `["<commit LSN>","<LSN>"]` as decimal text (Debezium: the previous
 * commit's LSN first; both order a key's changes the same way).
 */
import { CdcError, parseLsn } from '@cdc/core';
import { avroNamespaceFor } from './envelope.ts';
import type { AvroField, AvroRecordSchema } from './schema-types.ts';

/** The envelope formats a capture writes: ours (`changeId`, `tsMs`, text LSNs) or Debezium's. */
export const ENVELOPE_FORMATS = ['cdc', 'debezium'] as const;
export type EnvelopeFormat = (typeof ENVELOPE_FORMATS)[number];

/** `source.version`: the Debezium release whose layout this follows. */
export const DEBEZIUM_LAYOUT_VERSION = '3.6.1.Final';

const optionalLong = (name: string): AvroField => ({ name, type: ['null', 'long'], default: null });

export const DEBEZIUM_POSTGRES_SOURCE_SCHEMA: AvroRecordSchema = {
  type: 'record',
  name: 'Source',
  namespace: 'io.debezium.connector.postgresql',
  fields: [
    { name: 'version', type: 'string' },
    { name: 'connector', type: 'string' },
    { name: 'name', type: 'string' },
    { name: 'ts_ms', type: 'long' },
    {
      name: 'snapshot',
      type: [
        {
          type: 'string',
          'connect.version': 1,
          'connect.parameters': {
            allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental',
          },
          'connect.default': 'false',
          'connect.name': 'io.debezium.data.Enum',
        },
        'null',
      ],
      default: 'false',
    },
    { name: 'db', type: 'string' },
    { name: 'sequence', type: ['null', 'string'], default: null },
    optionalLong('ts_us'),
    optionalLong('ts_ns'),
    { name: 'schema', type: 'string' },
    { name: 'table', type: 'string' },
    optionalLong('txId'),
    optionalLong('lsn'),
    optionalLong('xmin'),
  ],
  'connect.name': 'io.debezium.connector.postgresql.Source',
} as AvroRecordSchema;

const TRANSACTION_BLOCK: AvroRecordSchema = {
  type: 'record',
  name: 'block',
  namespace: 'event',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'total_order', type: 'long' },
    { name: 'data_collection_order', type: 'long' },
  ],
  'connect.version': 1,
  'connect.name': 'event.block',
} as AvroRecordSchema;

/** The value schema of a Debezium-format PostgreSQL topic around the row record `row`. */
export function debeziumEnvelopeSchema(topic: string, row: AvroRecordSchema): AvroRecordSchema {
  const namespace = avroNamespaceFor(topic);
  const value: AvroRecordSchema = { ...row, name: 'Value', namespace };
  return {
    type: 'record',
    name: 'Envelope',
    namespace,
    fields: [
      { name: 'before', type: ['null', value], default: null },
      { name: 'after', type: ['null', `${namespace}.Value`], default: null },
      { name: 'source', type: DEBEZIUM_POSTGRES_SOURCE_SCHEMA },
      { name: 'transaction', type: ['null', TRANSACTION_BLOCK], default: null },
      { name: 'op', type: 'string' },
      optionalLong('ts_ms'),
      optionalLong('ts_us'),
      optionalLong('ts_ns'),
    ],
    'connect.version': 2,
    'connect.name': `${topic}.Envelope`,
  } as AvroRecordSchema;
}

/** What the PostgreSQL capture builds (the `cdc` envelope's value). */
export interface CdcPostgresChange {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: {
    name: string;
    db: string;
    schema: string;
    table: string;
    lsn: string;
    commitLsn: string;
    txId: string | null;
    tsMs: number | bigint;
    snapshot?: string;
  };
  op: string;
  tsMs: number | bigint;
}

/** A `cdc` envelope value as Debezium writes it (see the module comment). */
export function toDebeziumPostgres(change: CdcPostgresChange): Record<string, unknown> {
  const s = change.source;
  let lsn: bigint;
  let commitLsn: bigint;
  try {
    lsn = parseLsn(s.lsn);
    commitLsn = parseLsn(s.commitLsn);
  } catch (err) {
    throw new CdcError(
      'SERDE_FAILED',
      `the change of ${s.schema}.${s.table} has no X/Y LSN: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const sourceMs = Number(s.tsMs);
  const ms = Number(change.tsMs);
  return {
    before: change.before,
    after: change.after,
    source: {
      version: DEBEZIUM_LAYOUT_VERSION,
      connector: 'postgresql',
      name: s.name,
      ts_ms: sourceMs,
      snapshot: s.snapshot ?? 'false',
      db: s.db,
      sequence: JSON.stringify([commitLsn.toString(), lsn.toString()]),
      ts_us: sourceMs * 1000,
      ts_ns: null,
      schema: s.schema,
      table: s.table,
      txId: s.txId === null ? null : Number(s.txId),
      lsn: Number(lsn),
      xmin: null,
    },
    transaction: null,
    op: change.op,
    ts_ms: ms,
    ts_us: ms * 1000,
    ts_ns: null,
  };
}

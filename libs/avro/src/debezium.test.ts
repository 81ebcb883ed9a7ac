import { describe, expect, it } from 'vitest';
import { debeziumEnvelopeSchema, toDebeziumPostgres } from './debezium.ts';
import { parseSchema } from './parse-schema.ts';
import type { AvroRecordSchema } from './schema-types.ts';

const row: AvroRecordSchema = {
  type: 'record',
  name: 'Row',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
};

const change = {
  before: null,
  after: { id: 7, note: 'x' },
  source: {
    name: 'shop',
    db: 'shop',
    schema: 'public',
    table: 'orders',
    lsn: '16/B374D848',
    commitLsn: '16/B374D900',
    txId: '4711',
    tsMs: 1_700_000_000_123,
    snapshot: 'false',
  },
  op: 'c',
  tsMs: 1_700_000_000_456,
};

describe("Debezium's envelope", () => {
  it('has the field names and types Debezium writes: ts_ms, source.lsn and source.txId as longs, transaction', () => {
    const schema = debeziumEnvelopeSchema('shop.shop.public.orders', row);
    expect(schema.fields.map((f) => f.name)).toEqual([
      'before',
      'after',
      'source',
      'transaction',
      'op',
      'ts_ms',
      'ts_us',
      'ts_ns',
    ]);
    const source = schema.fields.find((f) => f.name === 'source')!.type as AvroRecordSchema;
    expect(`${source.namespace}.${source.name}`).toBe('io.debezium.connector.postgresql.Source');
    const type = (name: string) => source.fields.find((f) => f.name === name)?.type;
    expect(type('lsn')).toEqual(['null', 'long']);
    expect(type('txId')).toEqual(['null', 'long']);
    expect(type('ts_ms')).toBe('long');
  });

  it('converts a change: LSN and transaction id as numbers, sequence as Debezium writes it, and encodes', () => {
    const value = toDebeziumPostgres(change);
    expect(value).toMatchObject({
      op: 'c',
      ts_ms: 1_700_000_000_456,
      after: { id: 7, note: 'x' },
      transaction: null,
      source: {
        connector: 'postgresql',
        name: 'shop',
        ts_ms: 1_700_000_000_123,
        lsn: 0x16b374d848,
        txId: 4711,
        snapshot: 'false',
        sequence: JSON.stringify([String(0x16b374d900), String(0x16b374d848)]),
      },
    });
    const type = parseSchema(JSON.stringify(debeziumEnvelopeSchema('shop.shop.public.orders', row)));
    const decoded = type.fromBuffer(type.toBuffer(value)) as { source: { lsn: number } };
    expect(Number(decoded.source.lsn)).toBe(0x16b374d848);
  });
});

import { deriveTableShape } from '@cdc/clickhouse';
import { describe, expect, it } from 'vitest';
import { isConnectJson, parseConnectJson } from './connect-json.ts';
import { debeziumPostgresVersion } from './version.ts';

/** A Debezium PostgreSQL change as the JsonConverter writes it with schemas.enable=true. */
const row = (name: string) => ({
  type: 'struct',
  optional: true,
  name,
  field: undefined as string | undefined,
  fields: [
    { type: 'int64', optional: false, field: 'id' },
    { type: 'string', optional: true, field: 'note' },
    {
      type: 'bytes',
      optional: false,
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: { scale: '2', 'connect.decimal.precision': '10' },
      field: 'amount',
    },
  ],
});
const value = {
  schema: {
    type: 'struct',
    name: 'shop.shop.public.ledger.Envelope',
    optional: false,
    version: 2,
    fields: [
      { ...row('shop.shop.public.ledger.Value'), field: 'before' },
      { ...row('shop.shop.public.ledger.Value'), field: 'after' },
      {
        type: 'struct',
        optional: false,
        name: 'io.debezium.connector.postgresql.Source',
        field: 'source',
        fields: [
          { type: 'string', optional: false, field: 'version' },
          { type: 'string', optional: false, field: 'connector' },
          { type: 'string', optional: false, field: 'name' },
          { type: 'int64', optional: false, field: 'ts_ms' },
          {
            type: 'string',
            optional: true,
            name: 'io.debezium.data.Enum',
            version: 1,
            parameters: { allowed: 'true,first,last,false,incremental' },
            default: 'false',
            field: 'snapshot',
          },
          { type: 'string', optional: false, field: 'db' },
          { type: 'string', optional: true, field: 'sequence' },
          { type: 'string', optional: false, field: 'schema' },
          { type: 'string', optional: false, field: 'table' },
          { type: 'int64', optional: true, field: 'txId' },
          { type: 'int64', optional: true, field: 'lsn' },
        ],
      },
      { type: 'string', optional: false, field: 'op' },
      { type: 'int64', optional: true, field: 'ts_ms' },
    ],
  },
  payload: {
    before: null,
    after: { id: 7, note: 'x', amount: 'BNI=' }, // 1234 unscaled: 12.34
    source: {
      version: '3.6.1.Final',
      connector: 'postgresql',
      name: 'shop.shop',
      ts_ms: 1_700_000_000_000,
      snapshot: 'false',
      db: 'shop',
      sequence: '["100","120"]',
      schema: 'public',
      table: 'ledger',
      txId: 42,
      lsn: 120,
    },
    op: 'u',
    ts_ms: 1_700_000_000_100,
  },
};

describe('Kafka Connect JSON with schemas', () => {
  it('gives the same table shape and values as the Avro path, versioned by source.lsn', () => {
    const buf = Buffer.from(JSON.stringify(value));
    expect(isConnectJson(buf)).toBe(true);
    const parsed = parseConnectJson(buf, 'shop.shop.public.ledger.Envelope');
    const shape = deriveTableShape({ value: parsed.schema });
    expect(shape.kind).toBe('postgres');
    expect(shape.versioning).toBe('debezium-lsn');
    expect(shape.columns.map((c) => [c.column, c.mapping.type])).toEqual([
      ['id', 'Int64'],
      ['note', 'Nullable(String)'],
      ['amount', 'Decimal(10, 2)'],
    ]);
    const after = parsed.value.after as Record<string, unknown>;
    expect(shape.columns.find((c) => c.column === 'amount')?.mapping.convert(after.amount, () => {})).toBe(
      '12.34',
    );
    expect(debeziumPostgresVersion(parsed.value as never)).toBe((120n << 64n) | (120n << 1n) | 1n);
  });

  it('refuses a record without a schema, naming the converter setting', () => {
    expect(() => parseConnectJson(Buffer.from('{"id":1}'), 'x')).toThrow(/schemas\.enable=true/);
  });
});

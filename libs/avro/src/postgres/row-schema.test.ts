import { describe, expect, it } from 'vitest';
import { envelopeSchema, keySchema } from '../envelope.ts';
import { parseSchema } from '../parse-schema.ts';
import type { PgColumn, PgRelation, PgType } from './relation.ts';
import { derivePgRowSchema } from './row-schema.ts';
import { pgRowFromText } from './values.ts';

const t = (name: string): PgType => ({ oid: 0, schema: 'pg_catalog', name, kind: 'base' });
const arr = (element: PgType): PgType => ({
  oid: 0,
  schema: 'pg_catalog',
  name: `_${element.name}`,
  kind: 'array',
  element,
});
const mood: PgType = { oid: 0, schema: 'public', name: 'mood', kind: 'enum', labels: ['sad', 'ok', 'happy'] };
const price: PgType = {
  oid: 0,
  schema: 'public',
  name: 'price',
  kind: 'domain',
  base: t('numeric'),
  baseTypmod: 655366,
};
const citext: PgType = { oid: 0, schema: 'public', name: 'citext', kind: 'base' };

const col = (name: string, type: PgType, more: Partial<PgColumn> = {}): PgColumn => ({
  name,
  type,
  typmod: -1,
  notNull: false,
  isKey: false,
  ...more,
});

/** One column of every type the mapping knows, as `readPgRelation` describes them. */
const everyType: PgRelation = {
  schema: 'shop',
  name: 'every_type',
  columns: [
    col('id', t('int8'), { notNull: true, isKey: true }),
    col('small', t('int2')),
    col('regular', t('int4'), { notNull: true }),
    col('amount', t('numeric'), { typmod: 655366 }), // numeric(10,2)
    col('ratio', t('numeric')),
    col('real_v', t('float4')),
    col('double_v', t('float8')),
    col('flag', t('bool')),
    col('body', t('text')),
    col('label', t('varchar'), { typmod: 24 }), // varchar(20)
    col('code', t('bpchar'), { typmod: 7 }), // char(3)
    col('uid', t('uuid')),
    col('day', t('date')),
    col('at_time', t('time')),
    col('at_timetz', t('timetz')),
    col('local_ts', t('timestamp')),
    col('ts', t('timestamptz')),
    col('wait', t('interval')),
    col('doc', t('json')),
    col('docb', t('jsonb')),
    col('blob', t('bytea')),
    col('ints', arr(t('int4'))),
    col('grid', arr(t('float8')), { dimensions: 2 }),
    col('waits', arr(t('interval'))),
    col('feeling', mood),
    col('cost', price),
    col('Name With Space', citext),
    col('addr', t('inet')),
  ],
};

const opt = (type: unknown) => ({ type: ['null', type], default: null });
const nullableString = opt('string');

describe('derivePgRowSchema', () => {
  it('gives the expected Avro schema for a table with one column of every type', () => {
    const { row, keyFields } = derivePgRowSchema(everyType);
    expect(row).toEqual({
      type: 'record',
      name: 'every_type',
      namespace: 'io.cdc.postgresql.shop',
      'cdc.table': 'shop.every_type',
      fields: [
        { name: 'id', type: 'long', 'cdc.type': 'int8' },
        { name: 'small', ...opt('int'), 'cdc.type': 'int2' },
        { name: 'regular', type: 'int', 'cdc.type': 'int4' },
        {
          name: 'amount',
          ...opt({ type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 }),
          'cdc.type': 'numeric',
        },
        { name: 'ratio', ...nullableString, 'cdc.type': 'numeric' },
        { name: 'real_v', ...opt('float'), 'cdc.type': 'float4' },
        { name: 'double_v', ...opt('double'), 'cdc.type': 'float8' },
        { name: 'flag', ...opt('boolean'), 'cdc.type': 'bool' },
        { name: 'body', ...nullableString, 'cdc.type': 'text' },
        { name: 'label', ...nullableString, 'cdc.type': 'varchar', 'cdc.length': 20 },
        { name: 'code', ...nullableString, 'cdc.type': 'bpchar', 'cdc.length': 3 },
        { name: 'uid', ...opt({ type: 'string', logicalType: 'uuid' }), 'cdc.type': 'uuid' },
        { name: 'day', ...opt({ type: 'int', logicalType: 'date' }), 'cdc.type': 'date' },
        { name: 'at_time', ...opt({ type: 'long', logicalType: 'time-micros' }), 'cdc.type': 'time' },
        { name: 'at_timetz', ...nullableString, 'cdc.type': 'timetz' },
        {
          name: 'local_ts',
          ...opt({ type: 'long', logicalType: 'local-timestamp-micros' }),
          'cdc.type': 'timestamp',
        },
        { name: 'ts', ...opt({ type: 'long', logicalType: 'timestamp-micros' }), 'cdc.type': 'timestamptz' },
        {
          name: 'wait',
          ...opt({
            type: 'record',
            name: 'Interval',
            namespace: 'io.cdc.postgresql',
            doc: expect.stringContaining('PostgreSQL interval'),
            fields: [
              { name: 'months', type: 'int' },
              { name: 'days', type: 'int' },
              { name: 'micros', type: 'long' },
            ],
          }),
          'cdc.type': 'interval',
        },
        { name: 'doc', ...nullableString, 'cdc.type': 'json' },
        { name: 'docb', ...nullableString, 'cdc.type': 'jsonb' },
        { name: 'blob', ...opt('bytes'), 'cdc.type': 'bytea' },
        {
          name: 'ints',
          ...opt({ type: 'array', items: ['null', 'int'] }),
          'cdc.type': '_int4',
          'cdc.elementType': 'int4',
        },
        {
          name: 'grid',
          ...opt({ type: 'array', items: { type: 'array', items: ['null', 'double'] } }),
          'cdc.type': '_float8',
          'cdc.dimensions': 2,
          'cdc.elementType': 'float8',
        },
        // The second use of Interval refers to the first by name.
        {
          name: 'waits',
          ...opt({ type: 'array', items: ['null', 'io.cdc.postgresql.Interval'] }),
          'cdc.type': '_interval',
          'cdc.elementType': 'interval',
        },
        {
          name: 'feeling',
          ...nullableString,
          'cdc.type': 'public.mood',
          'cdc.labels': ['sad', 'ok', 'happy'],
        },
        {
          name: 'cost',
          ...opt({ type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 }),
          'cdc.type': 'numeric',
          'cdc.domain': 'public.price',
        },
        {
          name: 'Name_With_Space',
          ...nullableString,
          'cdc.type': 'public.citext',
          'cdc.column': 'Name With Space',
        },
        { name: 'addr', ...nullableString, 'cdc.type': 'inet' },
      ],
    });
    expect(keyFields).toEqual([{ name: 'id', type: 'long', 'cdc.type': 'int8' }]);
  });

  it('is a schema avsc and the envelope accept, and a row of NULLs encodes', () => {
    const { row, keyFields } = derivePgRowSchema(everyType);
    const topic = 'cdc.shop.every_type';
    const value = parseSchema(envelopeSchema(topic, row, 'postgresql'));
    parseSchema(keySchema(topic, keyFields));
    const after = pgRowFromText(
      derivePgRowSchema(everyType),
      everyType.columns.map((c) => (c.name === 'id' ? '1' : c.name === 'regular' ? '2' : null)),
    );
    const source = {
      connector: 'postgresql',
      name: 'cdc',
      db: 'shop',
      schema: 'shop',
      table: 'every_type',
      lsn: '0/1',
      commitLsn: '0/1',
      txId: null,
      tsMs: 0n,
      snapshot: 'false',
    };
    const envelope = { before: null, after, source, op: 'c', tsMs: 1n, changeId: 'x' };
    expect(value.fromBuffer(value.toBuffer(envelope))).toEqual(envelope);
  });

  it('adding a nullable column is a compatible change: old records read with the new schema get null', () => {
    const before: PgRelation = {
      schema: 'shop',
      name: 'orders',
      columns: [col('id', t('int8'), { notNull: true, isKey: true })],
    };
    const after: PgRelation = {
      ...before,
      columns: [...before.columns, col('note', t('text')), col('wait', t('interval'))],
    };
    const oldType = parseSchema(derivePgRowSchema(before).row);
    const newType = parseSchema(derivePgRowSchema(after).row);
    const oldRecord = oldType.toBuffer({ id: 7n });
    expect(newType.fromBuffer(oldRecord, newType.createResolver(oldType))).toEqual({
      id: 7n,
      note: null,
      wait: null,
    });
    // …and the other way round, a reader of the old schema skips the new column.
    const newRecord = newType.toBuffer({ id: 8n, note: 'n', wait: { months: 1, days: 0, micros: 0n } });
    expect(oldType.fromBuffer(newRecord, oldType.createResolver(newType))).toEqual({ id: 8n });
  });

  it('makes every column name a valid, distinct Avro name and records the original', () => {
    const { row } = derivePgRowSchema({
      schema: 's',
      name: '2024 orders',
      columns: [col('a b', t('text')), col('a_b', t('text')), col('1st', t('text')), col('é', t('text'))],
    });
    expect(row.name).toBe('_2024_orders');
    expect(row.fields.map((f) => [f.name, f['cdc.column']])).toEqual([
      ['a_b', 'a b'],
      ['a_b_2', 'a_b'],
      ['_1st', '1st'],
      ['_', 'é'],
    ]);
  });

  it('never names a field __proto__, which a JS row object cannot hold', () => {
    const { row } = derivePgRowSchema({ schema: 's', name: 't', columns: [col('__proto__', t('text'))] });
    expect(row.fields.map((f) => [f.name, f['cdc.column']])).toEqual([['__proto___2', '__proto__']]);
  });
});

describe('constant defaults and column identity', () => {
  const numeric = (p: number, s: number) => ({ typmod: ((p << 16) | s) + 4 });
  const rs = derivePgRowSchema({
    schema: 'public',
    name: 'items',
    columns: [
      col('id', t('int4'), { notNull: true, isKey: true, attnum: 1 }),
      col('status', t('text'), { notNull: true, missing: 'new', attnum: 2 }),
      col('qty', t('int4'), { missing: '7', attnum: 3 }),
      col('price', t('numeric'), { notNull: true, missing: '9.99', attnum: 4, ...numeric(10, 2) }),
      col('at', t('timestamptz'), { notNull: true, missing: 'not a timestamp', attnum: 5 }),
    ],
  });
  const field = (name: string) => rs.row.fields.find((f) => f.name === name);

  it('a NOT NULL column added with a constant default has it as its Avro default', () => {
    expect(field('status')).toMatchObject({ type: 'string', default: 'new', 'cdc.attnum': 2 });
    expect(field('price')).toMatchObject({ default: '\u0003\u00e7' }); // 999 unscaled, as Avro JSON bytes
    // The default is what a reader of an older record (before the columns were added) reads.
    const before = derivePgRowSchema({
      schema: 'public',
      name: 'items',
      columns: [col('id', t('int4'), { notNull: true, isKey: true, attnum: 1 })],
    });
    const writer = parseSchema(before.row);
    const reader = parseSchema({ ...rs.row, fields: rs.row.fields.filter((f) => f.name !== 'at') });
    const read = reader.fromBuffer(writer.toBuffer({ id: 5 }), reader.createResolver(writer)) as Record<
      string,
      unknown
    >;
    expect(read).toMatchObject({ id: 5, status: 'new', qty: null });
    expect(read.price).toEqual(Buffer.from([3, 0xe7]));
  });

  it('a nullable one keeps default null (a union’s first branch) and carries the value in cdc.default', () => {
    expect(field('qty')).toMatchObject({ type: ['null', 'int'], default: null, 'cdc.default': 7 });
  });

  it('a default whose text does not convert leaves the field without one', () => {
    expect(field('at')).not.toHaveProperty('default');
    expect(field('id')).not.toHaveProperty('default');
    expect(field('id')).toMatchObject({ 'cdc.attnum': 1 });
  });
});

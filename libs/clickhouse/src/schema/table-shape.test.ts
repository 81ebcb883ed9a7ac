import type { AvroRecordSchema } from '@cdc/avro';
import { describe, expect, it } from 'vitest';
import { deriveTableShape, tableColumns } from './table-shape.ts';

/** An upsert topic's record: the columns come from its fields. */
const record = (fields: unknown[]): AvroRecordSchema =>
  ({ type: 'record', name: 'R', namespace: 'x', fields }) as unknown as AvroRecordSchema;

describe('column names', () => {
  it('takes the source name (cdc.column, cdc.originalName), escaping . and %', () => {
    const shape = deriveTableShape({
      value: record([
        { name: 'my_id', type: 'int', 'cdc.column': 'my id' },
        { name: 'c_d', type: 'string', 'cdc.originalName': 'c.d' },
        { name: 'c_d_2', type: 'string' },
        { name: 'a_b', type: 'string', 'cdc.column': 'a%b' },
        { name: '___', type: 'string', 'cdc.originalName': 'Имя' },
      ]),
    });
    expect(shape.columns.map((c) => [c.field, c.column])).toEqual([
      ['my_id', 'my id'],
      ['c_d', 'c%2Ed'],
      ['c_d_2', 'c_d_2'],
      ['a_b', 'a%25b'],
      ['___', 'Имя'],
    ]);
  });

  it('names Tuple elements by their source names and reads values by their Avro names', () => {
    const shape = deriveTableShape({
      value: record([
        {
          name: 'c',
          type: {
            type: 'record',
            name: 'C',
            fields: [
              { name: 'd', type: 'string' },
              { name: 'e_f', type: 'string', 'cdc.originalName': 'e.f' },
              { name: 'g__', type: 'string', 'cdc.originalName': 'g`\\' },
            ],
          },
        },
      ]),
    });
    const c = shape.columns[0]!;
    expect(c.mapping.type).toBe('Tuple(`d` String, `e%2Ef` String, `g\\`\\\\` String)');
    expect({ ...(c.mapping.convert({ d: '1', e_f: '2', g__: '3' }) as object) }).toEqual({
      d: '1',
      'e%2Ef': '2',
      'g`\\': '3',
    });
  });

  it('refuses a source column that is one of the sink’s own', () => {
    expect(() => deriveTableShape({ value: record([{ name: '_version', type: 'int' }]) })).toThrow(
      /column _version clashes with a column the sink adds/,
    );
    expect(
      tableColumns(deriveTableShape({ value: record([{ name: 'x', type: 'int' }]) })).map((c) => c.name),
    ).toContain('_ingested_at');
  });
});

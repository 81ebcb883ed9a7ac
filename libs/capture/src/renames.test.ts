import type { AvroRecordSchema } from '@cdc/avro';
import { describe, expect, it } from 'vitest';
import { columnsByAttnum, columnsOfRow, withRenames } from './renames.ts';

const row = (fields: AvroRecordSchema['fields']): AvroRecordSchema => ({
  type: 'record',
  name: 'items',
  fields,
});

describe('renamed columns', () => {
  const before = row([
    { name: 'id', type: 'int', 'cdc.attnum': 1 },
    { name: 'label', type: 'string', 'cdc.attnum': 2 },
    { name: '_2nd', type: ['null', 'int'], default: null, 'cdc.attnum': 3, 'cdc.column': '2nd' },
  ]);

  it('recognises a rename by attnum: aliases for readers, cdc.renamedFrom for the sink', () => {
    expect(
      withRenames(row([{ name: 'title', type: 'string', 'cdc.attnum': 2 }]), columnsOfRow(before)).fields,
    ).toEqual([
      { name: 'title', type: 'string', 'cdc.attnum': 2, aliases: ['label'], 'cdc.renamedFrom': 'label' },
    ]);
    const after = withRenames(
      row([
        { name: 'id', type: 'int', 'cdc.attnum': 1 },
        { name: 'title', type: 'string', 'cdc.attnum': 2 },
        { name: 'second', type: ['null', 'int'], default: null, 'cdc.attnum': 3 },
        { name: 'label', type: ['null', 'string'], default: null, 'cdc.attnum': 4 },
      ]),
      columnsOfRow(before),
    );
    expect(after.fields).toEqual([
      { name: 'id', type: 'int', 'cdc.attnum': 1 },
      // A new column took the old name: no alias (it would name another field), the sink still renames.
      { name: 'title', type: 'string', 'cdc.attnum': 2, 'cdc.renamedFrom': 'label' },
      {
        name: 'second',
        type: ['null', 'int'],
        default: null,
        'cdc.attnum': 3,
        aliases: ['_2nd'],
        'cdc.renamedFrom': '2nd',
      },
      // A new column that took a dropped column's name is not a rename: another attnum.
      { name: 'label', type: ['null', 'string'], default: null, 'cdc.attnum': 4 },
    ]);
  });

  it('reads the columns of the row record inside a registered envelope', () => {
    const envelope = {
      type: 'record',
      name: 'Envelope',
      fields: [
        { name: 'before', type: ['null', before] },
        { name: 'after', type: ['null', 'items'] },
      ],
    };
    expect([...columnsByAttnum(JSON.stringify(envelope))]).toEqual([
      [1, { field: 'id', column: 'id' }],
      [2, { field: 'label', column: 'label' }],
      [3, { field: '_2nd', column: '2nd' }],
    ]);
    expect(columnsByAttnum('{"type":"record","name":"x","fields":[{"name":"a","type":"int"}]}').size).toBe(0);
  });
});

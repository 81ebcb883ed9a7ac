import { createHmac } from 'node:crypto';
import { PostgresSourceSchema } from '@cdc/pipeline';
import { describe, expect, it } from 'vitest';
import { kindOf } from './canonical.ts';
import type { SourceTable } from './postgres-side.ts';
import { applyTransforms } from './transforms.ts';

const table: SourceTable = {
  schema: 'public',
  table: 'customers',
  columns: ['id:int8', 'email:text', 'ssn:text', 'note:text', 'born:date'].map((c) => {
    const [name, type] = c.split(':') as [string, string];
    return { name, kind: kindOf(type), type };
  }),
  key: ['id'],
};

function source(tables: unknown) {
  return PostgresSourceSchema.parse({
    name: 'shop',
    connection: { database: 'shop', user: 'cdc' },
    maskSalt: 'sixteen-chars-salt',
    tables,
  });
}

describe('verify reads the source as the capture writes it', () => {
  it('renders the filter as WHERE, leaves excluded columns out, maps renamed ones, masks text', () => {
    const t = applyTransforms(
      table,
      source({
        'public.customers': {
          filter: "note like 'vip%' and id not in (3)",
          columns: { exclude: ['ssn'], rename: { note: 'remark' }, mask: { email: 'hash', born: 'redact' } },
        },
      }),
    );
    expect(t.where).toBe(`(("note"::text LIKE 'vip%') AND ("id" NOT IN (3)))`);
    expect(t.columns.map((c) => [c.name, c.replicaName ?? null])).toEqual([
      ['id', null],
      ['email', null],
      ['note', 'remark'],
    ]);
    expect(t.columns[1]?.mask?.('a@b')).toBe(
      createHmac('sha256', 'sixteen-chars-salt').update('a@b').digest('hex'),
    );
    expect(t.notes).toEqual(['masked column born not compared']);
  });

  it("applies the default entry's filter only to tables that have its columns", () => {
    expect(applyTransforms(table, source({ '*': { filter: 'ssn is not null' } })).where).toBe(
      '("ssn" IS NOT NULL)',
    );
    expect(applyTransforms(table, source({ '*': { filter: 'deleted_at is null' } })).where).toBeUndefined();
  });
});

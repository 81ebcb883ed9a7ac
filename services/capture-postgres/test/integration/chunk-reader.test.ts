/**
 * The chunked snapshot's window reader against PostgreSQL: windows of parallel key ranges read
 * with COPY cover a table exactly once, in key order per window, for a composite text + integer
 * key (collation order, values with tabs, newlines, backslashes, quotes and non-ASCII text) and
 * for a uuid key within resync bounds; every value equals what a plain SELECT returns as text.
 */
import type { PgTextValue } from '@cdc/avro';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWindow } from '../../src/snapshot/chunk-reader.ts';
import { connectPg, uniqueName } from '../scenarios/harness.ts';

const composite = uniqueName('i17_chunk_c').toLowerCase();
const uuids = uniqueName('i17_chunk_u').toLowerCase();
let db: pg.Client;
const readers: pg.Client[] = [];

beforeAll(async () => {
  db = await connectPg();
  for (let i = 0; i < 3; i++) readers.push(await connectPg());
  await db.query(
    `CREATE TABLE ${composite} (name text, n int4, body text, amount numeric(8,2), PRIMARY KEY (name, n))`,
  );
  await db.query(`INSERT INTO ${composite}
    SELECT (ARRAY['b', 'a', 'A', 'é', 'tab\tin', E'line\\nbreak', E'back\\\\slash', 'quote''s', ''])[1 + g % 9],
           g,
           CASE WHEN g % 4 = 0 THEN NULL ELSE E'v\\t' || g || E'\\n\\\\N' END,
           g / 7.0
    FROM generate_series(1, 500) g`);
  await db.query(`CREATE TABLE ${uuids} (id uuid PRIMARY KEY, v int4)`);
  await db.query(`INSERT INTO ${uuids} SELECT gen_random_uuid(), g FROM generate_series(1, 300) g`);
});

afterAll(async () => {
  await db.query(`DROP TABLE IF EXISTS ${composite}, ${uuids}`);
  for (const r of readers) await r.end();
  await db.end();
});

type Text = PgTextValue;

async function plainRows(sql: string): Promise<Text[][]> {
  const { rows } = await db.query<Text[]>({
    text: sql,
    rowMode: 'array',
    types: { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig,
  });
  return rows;
}

describe('readWindow', () => {
  it('covers a composite-keyed table exactly once, window after window, with every value as SELECT gives it', async () => {
    const want = await plainRows(
      `SELECT name, n::text, body, amount::text FROM ${composite} ORDER BY name, n`,
    );
    const got: Text[][] = [];
    let after: string[] | null = null;
    let windows = 0;
    for (;;) {
      const w = await readWindow(readers, {
        table: `public.${composite}`,
        columns: ['name', 'n', 'body', 'amount'],
        keyIndexes: [0, 1],
        after,
        chunkRows: 23,
      });
      windows++;
      got.push(...w.rows);
      if (w.last) break;
      expect(w.lastKey).not.toBeNull();
      after = w.lastKey;
    }
    // 3 ranges of 23 rows per window.
    expect(windows).toBe(Math.ceil(500 / 69));
    expect(got).toHaveLength(500);
    const key = (r: Text[]) => JSON.stringify([r[0], r[1]]);
    const byKey = new Map(got.map((r) => [key(r), r]));
    expect(byKey.size).toBe(500);
    for (const r of want) expect(byKey.get(key(r))).toEqual(r);
  });

  it('reads only the keys within resync bounds (from and to inclusive)', async () => {
    const all = await plainRows(`SELECT id::text, v::text FROM ${uuids} ORDER BY id`);
    const from = [all[50]![0] as string];
    const to = [all[249]![0] as string];
    const got: Text[][] = [];
    let after: string[] | null = null;
    for (;;) {
      const w = await readWindow(readers.slice(0, 2), {
        table: `public.${uuids}`,
        columns: ['id', 'v'],
        keyIndexes: [0],
        after,
        from,
        to,
        chunkRows: 40,
      });
      got.push(...w.rows);
      if (w.last) break;
      after = w.lastKey;
    }
    expect(got.map((r) => r[0]).sort()).toEqual(all.slice(50, 250).map((r) => r[0]));
  });
});

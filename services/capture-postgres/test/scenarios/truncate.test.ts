/**
 * truncate: a TRUNCATE reaches the table's topic as op 't' in every partition, after the
 * changes committed before it and before the ones after it; and a table without a primary key
 * (here with REPLICA IDENTITY FULL) is captured with a null key.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, connectPg, consume, runCapture, scenario, waitStreaming } from './harness.ts';

const s = scenario('truncate');
const table = `${s.name}_t`.toLowerCase();
const nopk = `${s.name}_nopk`.toLowerCase();

afterAll(async () => {
  await cleanup(s, [table, nopk], [s.topicOf(table), s.topicOf(nopk)]);
});

describe('truncate', () => {
  it('writes op t to every partition in order with the changes around it', async () => {
    const db = await connectPg();
    await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
    await db.query(`CREATE TABLE ${nopk} (a int, b text)`);
    await db.query(`ALTER TABLE ${nopk} REPLICA IDENTITY FULL`);
    const capture = runCapture(s.source({ include: [table, nopk], snapshot: 'never', topicPartitions: 3 }));
    try {
      await waitStreaming(s);
      await db.query(`INSERT INTO ${table} SELECT g, 'v' || g FROM generate_series(1, 6) g`);
      await db.query(`INSERT INTO ${nopk} VALUES (1, 'x'), (1, 'x')`);
      await db.query(`DELETE FROM ${nopk} WHERE a = 1`);
      await db.query(`TRUNCATE ${table}`);
      await db.query(`INSERT INTO ${table} VALUES (1, 'again')`);
      const got = await consume([s.topicOf(table)], { expected: 6 + 3 + 1 });
      const truncates = got.filter((r) => r.value.op === 't');
      expect(truncates.map((r) => r.partition).sort()).toEqual([0, 1, 2]);
      expect(new Set(truncates.map((r) => r.value.changeId)).size).toBe(1);
      expect(
        truncates.every((r) => r.key === null && r.value.before === null && r.value.after === null),
      ).toBe(true);
      // In each partition: inserts, then the truncate, then what came after it.
      for (const p of [0, 1, 2]) {
        const ops = got.filter((r) => r.partition === p).map((r) => r.value.op);
        expect(ops.indexOf('t')).toBe(
          ops.lastIndexOf('c') === ops.length - 1 ? ops.length - 2 : ops.length - 1,
        );
      }
      const last = got.find((r) => r.value.op === 'c' && r.value.after?.v === 'again');
      expect(last).toBeDefined();

      const keyless = await consume([s.topicOf(nopk)], { expected: 4 });
      expect(keyless.map((r) => r.value.op)).toEqual(['c', 'c', 'd', 'd']);
      expect(keyless.every((r) => r.key === null && r.partition === 0)).toBe(true);
      // REPLICA IDENTITY FULL: a delete carries the whole old row.
      expect(keyless[2]!.value.before).toEqual({ a: 1, b: 'x' });
    } finally {
      await capture.stop();
      await db.end();
    }
  });
});

/**
 * alter-table-mid-stream: an ALTER TABLE between two changes gives the topic a new value
 * schema version from the next change on; the changes before it keep the old version. An
 * unchanged TOASTed value never reaches the topic as a placeholder.
 */
import { RegistryClient } from '@cdc/avro';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, connectPg, consume, endpoints, runCapture, scenario, waitStreaming } from './harness.ts';

const s = scenario('alter');
const table = `${s.name}_t`.toLowerCase();

afterAll(async () => {
  await cleanup(s, [table], [s.topicOf(table)]);
});

describe('alter-table-mid-stream', () => {
  it('registers a new schema version after ALTER TABLE and keeps streaming; TOAST values stay real', async () => {
    const db = await connectPg();
    await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, big text)`);
    const capture = runCapture(s.source({ include: [table], snapshot: 'never' }));
    const big = 'x'.repeat(300_000) + Math.random().toString(36); // stored out of line (TOAST)
    try {
      await waitStreaming(s);
      await db.query(`INSERT INTO ${table} VALUES (1, 'one', $1)`, [big]);
      await db.query(`ALTER TABLE ${table} ADD COLUMN price numeric(10,2)`);
      await db.query(`INSERT INTO ${table} VALUES (2, 'two', NULL, 9.99)`);
      // An update that does not touch the TOASTed column: WAL does not carry it.
      await db.query(`UPDATE ${table} SET name = 'uno' WHERE id = 1`);
      await db.query(`ALTER TABLE ${table} DROP COLUMN name`);
      await db.query(`UPDATE ${table} SET price = 1.50 WHERE id = 2`);
      // Change ids sort in commit order (across partitions).
      const got = (await consume([s.topicOf(table)], { expected: 4 })).sort((a, b) =>
        a.value.changeId < b.value.changeId ? -1 : 1,
      );
      expect(got.map((r) => r.value.op)).toEqual(['c', 'c', 'u', 'u']);
      const [first, second, toastUpdate, afterDrop] = got.map((r) => r.value);
      expect(first!.after).toEqual({ id: 1, name: 'one', big });
      expect(second!.after).toMatchObject({ id: 2, name: 'two', big: null });
      expect(second!.after!.price).toBeInstanceOf(Buffer); // decimal(10,2)
      expect(toastUpdate!.after).toMatchObject({ id: 1, name: 'uno', price: null });
      expect(toastUpdate!.after!.big).toBe(big);
      expect(afterDrop!.after).not.toHaveProperty('name');

      // Three value schema versions: as created, with price, without name.
      const registry = new RegistryClient({ url: endpoints.registry.url });
      const versions = await registry.versions(`${s.topicOf(table)}-value`);
      expect(versions.length).toBe(3);
    } finally {
      await capture.stop();
      await db.end();
    }
  });
});

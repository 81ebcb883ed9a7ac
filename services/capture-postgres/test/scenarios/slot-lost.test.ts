/**
 * slot-lost: the replication slot is dropped while the capture is stopped (what an operator or
 * max_slot_wal_keep_size does). With `snapshot: initial` the capture refuses to start with
 * SOURCE_POSITION_LOST naming the slot and the fix; with `snapshot: when_needed` it takes a
 * new snapshot (every current row again, `op: 'r'`) and streams on from there.
 */
import { isCdcError } from '@cdc/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  connectPg,
  consume,
  runCapture,
  type Scenario,
  scenario,
  waitStreaming,
} from './harness.ts';

const made: [Scenario, string][] = [];

afterAll(async () => {
  for (const [s, table] of made) await cleanup(s, [table], [s.topicOf(table)]);
});

/** Snapshot of 5 rows, 2 streamed inserts, capture stopped, slot dropped. */
async function captureThenDropSlot(label: string, mode: 'initial' | 'when_needed') {
  const s = scenario(label);
  const table = `${s.name}_t`.toLowerCase();
  made.push([s, table]);
  const db = await connectPg();
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
  await db.query(`INSERT INTO ${table} SELECT g, 'row ' || g FROM generate_series(1, 5) g`);
  const source = s.source({ include: [table], snapshot: mode });
  const first = runCapture(source);
  await waitStreaming(s);
  // The snapshot of a keyed table runs beside the stream: rows inserted before its read would
  // come twice (streamed, then read). The stream rows come after the snapshot's five.
  await consume([s.topicOf(table)], { expected: 5 });
  await db.query(`INSERT INTO ${table} VALUES (6, 'six'), (7, 'seven')`);
  const before = await consume([s.topicOf(table)], { expected: 7, settleMs: 500 });
  expect(before.length).toBe(7);
  await first.stop();
  await db.query('SELECT pg_drop_replication_slot($1)', [s.slot]);
  return { s, table, db, source, firstIds: new Set(before.map((r) => r.value.changeId)) };
}

describe('slot-lost', () => {
  it('stops with SOURCE_POSITION_LOST naming the slot and the fix (snapshot: initial)', async () => {
    const { s, db, source } = await captureThenDropSlot('slotlost', 'initial');
    try {
      const again = runCapture(source);
      const err = await again.running.then(
        () => new Error('the capture did not fail'),
        (e: unknown) => e,
      );
      await again.stop();
      expect(isCdcError(err, 'SOURCE_POSITION_LOST')).toBe(true);
      const message = (err as Error).message;
      expect(message).toContain(s.slot);
      expect(message).toContain('snapshot: when_needed');
      expect(message).toContain(`pg_drop_replication_slot('${s.slot}')`);
    } finally {
      await db.end();
    }
  }, 90_000);

  it('takes a new snapshot and streams on (snapshot: when_needed)', async () => {
    const { s, table, db, source, firstIds } = await captureThenDropSlot('slotnew', 'when_needed');
    try {
      await db.query(`UPDATE ${table} SET v = 'changed while stopped' WHERE id = 1`);
      const again = runCapture(source);
      await waitStreaming(s);
      await consume([s.topicOf(table)], { expected: 7 + 7 });
      await db.query(`INSERT INTO ${table} VALUES (8, 'eight')`);
      const got = await consume([s.topicOf(table)], { expected: 7 + 7 + 1, settleMs: 1500 });
      await again.stop();
      expect(got.length).toBe(15);
      const later = got.filter((r) => !firstIds.has(r.value.changeId));
      const second = later.filter((r) => r.value.op === 'r');
      expect(second.map((r) => r.key?.id).sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(second.find((r) => r.key?.id === 1)?.value.after?.v).toBe('changed while stopped');
      expect(later.filter((r) => r.value.op !== 'r').map((r) => [r.key?.id, r.value.op])).toEqual([[8, 'c']]);
    } finally {
      await db.end();
    }
  }, 90_000);
});

/**
 * snapshot-then-stream: rows written while the initial snapshot runs (parallel readers, key
 * ranges, chunks) appear exactly once: each row once as a snapshot read or an insert, every
 * update after it, and replaying the topic gives the table.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, connectPg, consume, runCapture, scenario } from './harness.ts';

const s = scenario('snap');
const table = `${s.name}_t`.toLowerCase();
const ROWS = 40_000;

afterAll(async () => {
  await cleanup(s, [table], [s.topicOf(table)]);
});

describe('snapshot-then-stream', () => {
  it('has every row exactly once across the snapshot and the stream', async () => {
    const db = await connectPg();
    await db.query(`CREATE TABLE ${table} (id int8 PRIMARY KEY, v int NOT NULL)`);
    await db.query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, ${ROWS}) g`);
    await db.query(`ANALYZE ${table}`);
    const capture = runCapture(
      s.source({
        include: [table],
        snapshotOptions: { parallelism: 2, chunkRows: 2000 },
        topicPartitions: 3,
      }),
    );
    const w = await connectPg();
    let writes = 0;
    try {
      // Inserts and updates while the capture starts, snapshots and streams.
      const until = Date.now() + 6000;
      for (let i = 1; Date.now() < until; i++) {
        await w.query(`INSERT INTO ${table} VALUES ($1, 0)`, [ROWS + i]);
        await w.query(`UPDATE ${table} SET v = v + 1 WHERE id = $1`, [1 + ((i * 7919) % ROWS)]);
        writes += 2;
      }
      const { rows } = await db.query<{ id: string; v: number }>(`SELECT id::text, v FROM ${table}`);
      const got = await consume([s.topicOf(table)], {
        expected: rows.length,
        timeoutMs: 120_000,
        settleMs: 3000,
      });
      const ids = got.map((r) => r.value.changeId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(got.some((r) => r.value.op === 'r')).toBe(true);
      expect(got.some((r) => r.value.op === 'c')).toBe(true);
      // Replay per key in offset order.
      const state = new Map<string, { v: number; created: number }>();
      for (const r of got.sort(
        (a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
      )) {
        const id = String(r.key?.id);
        const prev = state.get(id);
        if (r.value.op === 'r' || r.value.op === 'c') {
          state.set(id, { v: r.value.after?.v as number, created: (prev?.created ?? 0) + 1 });
        } else if (r.value.op === 'u') {
          expect(prev).toBeDefined();
          state.set(id, { v: r.value.after?.v as number, created: prev?.created ?? 0 });
        }
      }
      expect(state.size).toBe(rows.length);
      for (const row of rows) expect(state.get(row.id)).toEqual({ v: row.v, created: 1 });
      expect(writes).toBeGreaterThan(0);
    } finally {
      await w.end();
      await capture.stop();
      await db.end();
    }
  });
});

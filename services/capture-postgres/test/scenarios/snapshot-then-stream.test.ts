/**
 * snapshot-then-stream: rows written while the initial snapshot runs (chunks of parallel key
 * ranges, each chunk its own Kafka transaction, merged with the stream by watermarks) appear
 * as the replica needs them: no change id twice, at most one snapshot read and one insert per
 * key, a snapshot read never older than a change before it (so it never changes the replica),
 * and replaying the topic per key in offset order gives the table.
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
        snapshotOptions: { chunked: true, parallelism: 2, chunkRows: 2000 },
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
      const state = new Map<string, { v: number; reads: number; inserts: number }>();
      for (const r of got.sort(
        (a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
      )) {
        const id = String(r.key?.id);
        const prev = state.get(id);
        const v = r.value.after?.v as number;
        if (r.value.op === 'r') {
          // A read after changes of its key carries their state or a newer one (v only grows).
          if (prev) expect(v).toBeGreaterThanOrEqual(prev.v);
          state.set(id, { v, reads: (prev?.reads ?? 0) + 1, inserts: prev?.inserts ?? 0 });
        } else if (r.value.op === 'c') {
          expect(prev).toBeUndefined();
          state.set(id, { v, reads: 0, inserts: 1 });
        } else if (r.value.op === 'u') {
          state.set(id, { v, reads: prev?.reads ?? 0, inserts: prev?.inserts ?? 0 });
        }
      }
      expect(state.size).toBe(rows.length);
      for (const row of rows) {
        const st = state.get(row.id);
        expect(st?.v).toBe(row.v);
        expect(st?.reads).toBeLessThanOrEqual(1);
        expect(st?.inserts).toBeLessThanOrEqual(1);
        // A row of the table before the capture started is read by the snapshot, unless the
        // stream changed it while its chunk was in flight (the stream then carries its state).
        if (Number(row.id) <= ROWS && st?.reads === 0) expect(row.v).toBeGreaterThan(0);
      }
      expect(writes).toBeGreaterThan(0);
    } finally {
      await w.end();
      await capture.stop();
      await db.end();
    }
  });
});

/**
 * snapshot-composite-and-keyless: the initial snapshot of a table with a composite text +
 * integer primary key is read in parallel COPY windows merged with the stream, while its rows
 * are updated: replaying its topic per key gives the table (a key changed inside its window is
 * carried by the stream, a read never undoes a change). A table without a key beside it is read
 * whole from the slot's exported snapshot, duplicate rows included. Once the snapshot is done
 * its reader connections are closed: the capture keeps only its catalog and replication ones.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, connectPg, consume, runCapture, scenario, waitFor } from './harness.ts';

const s = scenario('i17_snapkeys');
const keyed = `${s.name}_keyed`.toLowerCase();
const keyless = `${s.name}_keyless`.toLowerCase();
const ROWS = 6_000;

afterAll(async () => {
  await cleanup(s, [keyed, keyless], [s.topicOf(keyed), s.topicOf(keyless)]);
});

describe('snapshot-composite-and-keyless', () => {
  it('merges composite-key windows with concurrent updates, and reads a keyless table whole', async () => {
    const db = await connectPg();
    await db.query(
      `CREATE TABLE ${keyed} (region text, n int4, v int NOT NULL DEFAULT 0, PRIMARY KEY (region, n))`,
    );
    await db.query(
      `INSERT INTO ${keyed} (region, n) SELECT (ARRAY['north', 'South', 'é-east', 'tab\tw', ''])[1 + g % 5], g FROM generate_series(1, ${ROWS}) g`,
    );
    await db.query(`CREATE TABLE ${keyless} (a int, b text)`);
    await db.query(`INSERT INTO ${keyless} SELECT g % 100, 'x' FROM generate_series(1, 300) g`);
    const capture = runCapture(
      s.source({
        include: [keyed, keyless],
        snapshotOptions: { chunked: true, parallelism: 3, chunkRows: 300 },
        topicPartitions: 3,
      }),
    );
    const w = await connectPg();
    let updates = 0;
    try {
      const until = Date.now() + 5000;
      while (Date.now() < until) {
        const n = 1 + Math.floor(Math.random() * ROWS);
        await w.query(`UPDATE ${keyed} SET v = v + 1 WHERE n = $1`, [n]);
        updates++;
      }
      const { rows } = await db.query<{ region: string; n: number; v: number }>(
        `SELECT region, n, v FROM ${keyed}`,
      );
      const got = await consume([s.topicOf(keyed)], { expected: ROWS, timeoutMs: 120_000, settleMs: 3000 });
      const ids = got.map((r) => r.value.changeId);
      expect(new Set(ids).size).toBe(ids.length);
      const state = new Map<string, { v: number; reads: number }>();
      for (const r of got.sort(
        (a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
      )) {
        const k = JSON.stringify([r.key?.region, r.key?.n]);
        const prev = state.get(k);
        const v = r.value.after?.v as number;
        if (r.value.op === 'r') {
          expect(r.value.source.snapshot).toBe('true');
          if (prev) expect(v).toBe(prev.v);
          state.set(k, { v, reads: (prev?.reads ?? 0) + 1 });
        } else {
          expect(r.value.op).toBe('u');
          if (prev) expect(v).toBe(prev.v + 1);
          state.set(k, { v, reads: prev?.reads ?? 0 });
        }
      }
      expect(state.size).toBe(ROWS);
      for (const row of rows) {
        const st = state.get(JSON.stringify([row.region, row.n]));
        expect(st?.v).toBe(row.v);
        expect(st?.reads).toBeLessThanOrEqual(1);
      }
      expect(updates).toBeGreaterThan(0);

      const whole = await consume([s.topicOf(keyless)], { expected: 300 });
      expect(whole).toHaveLength(300);
      expect(whole.every((r) => r.value.op === 'r' && r.key === null)).toBe(true);
      expect(whole.filter((r) => r.value.after?.a === 7)).toHaveLength(3);

      await waitFor('the snapshot readers are closed', 30_000, async () => {
        const { rows: conns } = await db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
          [`cdc-capture-${s.name}`],
        );
        const n = conns[0]?.n ?? 0;
        return n >= 1 && n <= 2;
      });
    } finally {
      await w.end();
      await capture.stop();
      await db.end();
    }
  });
});

/**
 * idle-heartbeat: while the captured table is idle and another table (not captured) is busy,
 * the slot's confirmed_flush_lsn keeps moving, so the WAL the slot retains stays bounded.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, connectPg, runCapture, scenario, slotLagBytes, waitStreaming } from './harness.ts';

const s = scenario('idle');
const captured = `${s.name}_idle`.toLowerCase();
const busy = `${s.name}_busy`.toLowerCase();

afterAll(async () => {
  await cleanup(s, [captured, busy], [s.topicOf(captured)]);
});

describe('idle-heartbeat', () => {
  it('keeps the slot’s retained WAL bounded while only uncaptured tables change', async () => {
    const db = await connectPg();
    await db.query(`CREATE TABLE ${captured} (id int PRIMARY KEY)`);
    await db.query(`CREATE TABLE ${busy} (id serial PRIMARY KEY, pad text)`);
    const capture = runCapture(
      s.source({ include: [captured], snapshot: 'never', heartbeatIntervalMs: 500 }),
    );
    try {
      await waitStreaming(s);
      const lags: number[] = [];
      // ~40 MB of WAL from the busy table over a few seconds.
      for (let round = 0; round < 8; round++) {
        await db.query(`INSERT INTO ${busy} (pad) SELECT repeat('x', 1000) FROM generate_series(1, 5000)`);
        await new Promise((r) => setTimeout(r, 700));
        lags.push(await slotLagBytes(db, s.slot));
      }
      const { rows } = await db.query<{ total: string }>(
        `SELECT pg_total_relation_size('${busy}')::int8 AS total`,
      );
      const written = Number(rows[0]!.total);
      // The slot holds back far less than what was written: it was acknowledged as WAL passed.
      expect(Math.max(...lags.slice(-3))).toBeLessThan(written / 4);
      expect(Math.min(...lags)).toBeLessThan(8 * 1024 * 1024);
    } finally {
      await capture.stop();
      await db.end();
    }
  });
});

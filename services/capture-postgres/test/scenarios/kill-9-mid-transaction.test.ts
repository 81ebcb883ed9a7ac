/**
 * kill-9-mid-transaction: the capture (a child process) is killed with SIGKILL at random
 * moments while transactions of every size (including ones larger than a Kafka transaction
 * chunk) stream in; each time it is started again. A read_committed consumer then sees every
 * change exactly once and, per key, in commit order.
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, connectPg, consume, scenario, serviceDir, spawnCapture, waitFor } from './harness.ts';

const s = scenario('kill9');
const table = `${s.name}_t`.toLowerCase();
const KEYS = 20;
const KILLS = 4;

beforeAll(() => {
  // The child runs the built service.
  execFileSync('npx', ['tsc', '-b', serviceDir], { stdio: 'inherit' });
});

afterAll(async () => {
  await cleanup(s, [table], [s.topicOf(table)]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads the topic until, for every key, the table's final seq has arrived (bounded). */
async function consumeUntilFinal(db: import('pg').Client) {
  const { rows } = await db.query<{ id: number; seq: number }>(`SELECT id, seq FROM ${table}`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const got = await consume([s.topicOf(table)], { expected: 1, timeoutMs: 30_000, settleMs: 4000 });
    const done = rows.every(({ id, seq }) => got.some((r) => r.key?.id === id && r.value.after?.seq === seq));
    if (done || Date.now() > deadline) return got;
  }
}

describe('kill-9-mid-transaction', () => {
  it('loses and duplicates nothing across repeated kill -9 under load', async () => {
    const db = await connectPg();
    await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, seq int NOT NULL, pad text)`);
    await db.query(`INSERT INTO ${table} SELECT g, 0, 'p' FROM generate_series(1, ${KEYS}) g`);
    const source = s.source({ include: [table], maxChangesPerTransaction: 25, heartbeatIntervalMs: 500 });
    const log = join(tmpdir(), `${s.name}.log`);
    let updates = 0;
    let loading = true;
    const load = (async () => {
      const w = await connectPg();
      try {
        while (loading) {
          // Transactions of 1 to 100 updates: many larger than one Kafka chunk of 25.
          const n =
            Math.random() < 0.15 ? 30 + Math.floor(Math.random() * 70) : 1 + Math.floor(Math.random() * 5);
          await w.query('BEGIN');
          for (let i = 0; i < n; i++) {
            const key = 1 + Math.floor(Math.random() * KEYS);
            await w.query(`UPDATE ${table} SET seq = seq + 1 WHERE id = $1`, [key]);
          }
          await w.query('COMMIT');
          updates += n;
          await sleep(20);
        }
      } finally {
        await w.end();
      }
    })();
    try {
      for (let k = 0; k < KILLS; k++) {
        const child = spawnCapture(source, log);
        await sleep(2000 + Math.random() * 4000);
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
      const last = spawnCapture(source, log);
      await sleep(3000);
      loading = false;
      await load;
      // Wait until the final state is in Kafka: every key's last seq has arrived.
      const got = await consumeUntilFinal(db);
      expect(got.length).toBeLessThanOrEqual(KEYS + updates);

      last.kill('SIGTERM');
      const code = await new Promise((r) => last.once('exit', r));
      expect(code).toBe(0);

      const ids = got.map((r) => r.value.changeId);
      expect(new Set(ids).size).toBe(ids.length); // no change twice
      // Per key, in partition (offset) order: every update, seq + 1 each time, up to the table's
      // final value; the snapshot's read ('r', at most once, from a chunk that committed with
      // its watermark) is the first record or repeats the state of the update before it, so it
      // never changes the replica.
      const { rows } = await db.query<{ id: number; seq: number }>(`SELECT id, seq FROM ${table}`);
      let total = 0;
      for (const { id, seq } of rows) {
        const mine = got
          .filter((r) => r.key?.id === id)
          .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
        expect(new Set(mine.map((r) => r.partition)).size).toBe(1);
        expect(mine.filter((r) => r.value.op === 'r').length).toBeLessThanOrEqual(1);
        let cur: number | undefined;
        for (const r of mine) {
          const v = r.value.after?.seq as number;
          if (cur !== undefined)
            expect({ id, op: r.value.op, seq: v }).toEqual({
              id,
              op: r.value.op,
              seq: r.value.op === 'r' ? cur : cur + 1,
            });
          cur = v;
        }
        expect({ id, last: cur }).toEqual({ id, last: seq });
        total += mine.length;
      }
      expect(total).toBe(got.length);
      await waitFor('slot acknowledged to the end', 30_000, async () => {
        const r = await db.query<{ behind: boolean }>(
          `SELECT confirmed_flush_lsn < (SELECT max(x) FROM (SELECT pg_current_wal_lsn() AS x) q) - 1000000 AS behind FROM pg_replication_slots WHERE slot_name = $1`,
          [s.slot],
        );
        return r.rows[0]?.behind === false;
      });
    } finally {
      loading = false;
      await load.catch(() => undefined);
      await db.end();
    }
  }, 240_000);
});

/**
 * sigterm: the capture (a child process) gets SIGTERM at random moments while large source
 * transactions are written in Kafka chunks. Each time it exits 0 within seconds, leaves no
 * Kafka transaction open (a read_committed read of its offsets topic completes at once), and
 * has acknowledged only what committed: after the last restart every change is in Kafka
 * exactly once and in order per key.
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OffsetsStore } from '@cdc/capture';
import { noopLogger } from '@cdc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredPosition } from '../../src/positions.ts';
import {
  cleanup,
  connectPg,
  consumeUntilFinal,
  expectSeqRuns,
  kafkaClient,
  scenario,
  serviceDir,
  spawnCapture,
  waitStreaming,
} from './harness.ts';

const s = scenario('sigterm');
const table = `${s.name}_t`.toLowerCase();
const KEYS = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(() => {
  execFileSync('npx', ['tsc', '-b', serviceDir], { stdio: 'inherit' });
});

afterAll(async () => {
  await cleanup(s, [table], [s.topicOf(table)]);
});

describe('sigterm', () => {
  it('exits cleanly mid-transaction and acknowledges only what committed', async () => {
    const db = await connectPg();
    await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, seq int NOT NULL)`);
    await db.query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, ${KEYS}) g`);
    const source = s.source({ include: [table], maxChangesPerTransaction: 100 });
    const log = join(tmpdir(), `${s.name}.log`);
    const kafka = kafkaClient();
    const admin = kafka.admin();
    await admin.connect();
    const offsets = new OffsetsStore({
      kafka,
      admin,
      topic: s.offsetsTopic,
      logger: noopLogger,
      readTimeoutMs: 10_000,
    });
    let loading = true;
    const load = (async () => {
      const w = await connectPg();
      try {
        while (loading) {
          // 300 to 1,000 updates per source transaction: several Kafka chunks each.
          const n = 300 + Math.floor(Math.random() * 700);
          await w.query(
            `UPDATE ${table} SET seq = seq + 1 WHERE id IN (SELECT 1 + (random() * ${KEYS - 1})::int FROM generate_series(1, ${n}))`,
          );
          await sleep(50);
        }
      } finally {
        await w.end();
      }
    })();
    try {
      for (let round = 0; round < 3; round++) {
        const child = spawnCapture(source, log);
        await waitStreaming(s);
        await sleep(1_000 + Math.random() * 2_000);
        const t0 = Date.now();
        child.kill('SIGTERM');
        const code = await new Promise((r) => child.once('exit', r));
        expect(code).toBe(0);
        expect(Date.now() - t0).toBeLessThan(15_000);
        // Nothing left open: a read_committed read of the offsets topic reaches its end now.
        const stored = await offsets.read<StoredPosition>(`postgres/${s.name}`);
        expect(stored?.slot).toBe(s.slot);
      }
      const last = spawnCapture(source, log);
      await waitStreaming(s);
      await sleep(1_000);
      loading = false;
      await load;
      const got = await consumeUntilFinal(db, table, s.topicOf(table));
      last.kill('SIGTERM');
      expect(await new Promise((r) => last.once('exit', r))).toBe(0);
      await expectSeqRuns(db, table, got);
    } finally {
      loading = false;
      await load.catch(() => undefined);
      await admin.disconnect();
      await db.end();
    }
  }, 180_000);
});

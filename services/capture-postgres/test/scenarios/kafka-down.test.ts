/**
 * kafka-down: the capture reaches the broker through a proxy that the test cuts for ~10 s
 * while changes keep coming (the shared broker stays up for everyone else). While Kafka is
 * unreachable the slot is not acknowledged (confirmed_flush_lsn stays put) and the capture
 * restarts its session with growing, jittered delays; after the proxy is back every change
 * arrives exactly once and in order per key.
 */

import { proxiedKafka } from '@cdc/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  confirmedFlush,
  connectPg,
  consume,
  consumeUntilFinal,
  endpoints,
  expectSeqRuns,
  recordingLogger,
  runCapture,
  scenario,
  waitFor,
  waitStreaming,
} from './harness.ts';

const s = scenario('kafkadown');
const table = `${s.name}_t`.toLowerCase();
const KEYS = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  await cleanup(s, [table], [s.topicOf(table)]);
});

describe('kafka-down', () => {
  it('does not acknowledge the slot while Kafka is down, retries with backoff, then loses and repeats nothing', async () => {
    const { proxy, kafka } = await proxiedKafka(endpoints.kafka.brokers, 'kafka-down');
    const db = await connectPg();
    await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, seq int NOT NULL)`);
    const { logger, lines } = recordingLogger();
    const capture = runCapture(s.source({ include: [table], heartbeatIntervalMs: 500 }), logger, kafka);
    let changes = 0;
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const id = 1 + Math.floor(Math.random() * KEYS);
        await db.query(
          `INSERT INTO ${table} VALUES ($1, 0) ON CONFLICT (id) DO UPDATE SET seq = ${table}.seq + 1`,
          [id],
        );
        changes++;
      }
    };
    try {
      await waitStreaming(s);
      await write(50);
      // The first changes are committed in Kafka before the cut (a cut before the first commit
      // leaves no position, and the capture rightly starts over with a snapshot).
      const first = await consume([s.topicOf(table)], { expected: 50, timeoutMs: 60_000, settleMs: 500 });
      expect(first.length).toBe(50);

      await proxy.cut();
      await sleep(1_000); // a commit already on the wire may still be acknowledged
      const frozen = await confirmedFlush(db, s.slot);
      const failuresBefore = lines.filter((l) => l.msg.startsWith('capture session failed')).length;
      for (let t = 0; t < 10; t++) {
        await write(10);
        await sleep(1_000);
        expect(await confirmedFlush(db, s.slot)).toBe(frozen);
      }
      const failures = lines.filter((l) => l.msg.startsWith('capture session failed')).slice(failuresBefore);
      // Restarted again and again, with delays that grow (exponential backoff, full jitter).
      expect(failures.length).toBeGreaterThanOrEqual(2);
      expect(failures.map((l) => l.attempt)).toEqual(failures.map((_, i) => i + 1 + failuresBefore));
      for (const l of failures) expect(typeof l.delayMs).toBe('number');

      await proxy.restore();
      await write(50);
      const got = await consumeUntilFinal(db, table, s.topicOf(table));
      await expectSeqRuns(db, table, got);
      expect(got.length).toBe(changes);
      await waitFor(
        'the slot acknowledged again',
        30_000,
        async () => ((await confirmedFlush(db, s.slot)) ?? 0n) > (frozen ?? 0n),
      );
    } finally {
      await capture.stop();
      await proxy.close();
      await db.end();
    }
  }, 180_000);
});

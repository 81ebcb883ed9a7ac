/**
 * kafka-down: the capture reaches the broker through a proxy that the test cuts for ~10 s
 * while updates keep coming (the shared broker stays up for everyone else; kafkajs connects to
 * the address the broker advertises, so the client's `socketFactory` sends every broker
 * connection through the proxy). While Kafka is unreachable the committed resume token does
 * not move and the capture restarts its session with growing, jittered delays (attempt 1, 2,
 * 3…); after the proxy is back a read_committed consumer sees every update exactly once and in
 * order per `_id`. SecantusDB only: nothing here depends on the MongoDB server.
 */

import { proxiedKafka } from '@cdc/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { type Counter, CounterLoad, expectEveryUpdateOnce } from './counters.ts';
import {
  cleanup,
  consume,
  endpoints,
  mongoClient,
  recordingLogger,
  runCapture,
  SERVERS,
  scenario,
  storedPosition,
  waitFor,
  waitStreaming,
} from './harness.ts';

const server = SERVERS[0]!;
const s = scenario('kafkadown', server);
const client = mongoClient(server.url);
const KEYS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  await cleanup(s, ['counters']);
  await client.close();
});

describe(`kafka-down on ${server.name}`, () => {
  it('keeps the committed token while Kafka is down, retries with backoff, then loses and repeats nothing', {
    timeout: 120_000,
  }, async () => {
    const { proxy, kafka } = await proxiedKafka(endpoints.kafka.brokers, 'kafka-down');
    await client.connect();
    const load = new CounterLoad(client.db(s.db).collection<Counter>('counters'), KEYS);
    await load.seed();
    const { logger, lines } = recordingLogger();
    const run = runCapture(
      s.source({ maxChangesPerTransaction: 50, heartbeatIntervalMs: 500 }),
      logger,
      kafka,
    );
    const token = async () => JSON.stringify((await storedPosition(s))?.streams);
    try {
      await waitStreaming(run.capture);
      load.start();
      const first = await token();
      await waitFor('the token to move under load', 20_000, async () => (await token()) !== first);

      await proxy.cut();
      await sleep(1_000); // a commit already on the wire may still complete
      const frozen = await token();
      const failuresBefore = lines.filter((l) => l.msg.startsWith('capture session failed')).length;
      const updatesBefore = load.updates;
      for (let t = 0; t < 9; t++) {
        await sleep(1_000);
        expect(await token()).toBe(frozen);
      }
      expect(load.updates - updatesBefore).toBeGreaterThan(100); // the source kept changing
      const failures = lines.filter((l) => l.msg.startsWith('capture session failed')).slice(failuresBefore);
      // Restarted again and again, attempt numbers growing (exponential backoff, full jitter).
      expect(failures.length).toBeGreaterThanOrEqual(2);
      expect(failures.map((l) => l.attempt)).toEqual(failures.map((_, i) => i + 1 + failuresBefore));
      for (const l of failures) expect(typeof l.delayMs).toBe('number');

      await proxy.restore();
      await waitFor('the token to move again', 60_000, async () => (await token()) !== frozen);
      await sleep(1_000);
      await load.stop();
      const final = await load.final();
      const records = await consume([s.topicOf('counters')], {
        expected: KEYS + load.updates,
        timeoutMs: 60_000,
      });
      expectEveryUpdateOnce(records, final, server);
    } finally {
      await load.stop();
      await run.stop();
      await proxy.close();
    }
  });
});

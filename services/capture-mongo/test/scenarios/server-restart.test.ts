/**
 * server-restart: the capture reaches SecantusDB through a proxy that the test cuts twice
 * under load (every connection reset, new ones refused for 3 s, then for 25 s, as when the
 * server restarts; the shared server itself stays up, and the load writes to it directly).
 * The change stream dies with its connection; the capture reconnects and resumes after what it
 * committed (the stored token does not move while the server is away), and a read_committed
 * consumer sees every update exactly once and in order per `_id`.
 */

import { TcpProxy } from '@cdc/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { type Counter, CounterLoad, expectEveryUpdateOnce } from './counters.ts';
import {
  cleanup,
  consume,
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
const s = scenario('mongorestart', server);
const client = mongoClient(server.url);
const KEYS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  await cleanup(s, ['counters']);
  await client.close();
});

describe(`server-restart on ${server.name}`, () => {
  it('resumes after its MongoDB connections die twice under load, without loss or duplicates', {
    timeout: 150_000,
  }, async () => {
    const target = new URL(server.url.replace(/^mongodb:/, 'http:'));
    const proxy = new TcpProxy(target.hostname, Number(target.port));
    await proxy.start();
    await client.connect();
    const load = new CounterLoad(client.db(s.db).collection<Counter>('counters'), KEYS);
    await load.seed();
    const { logger, lines } = recordingLogger();
    const source = s.source({
      uri: `mongodb://127.0.0.1:${proxy.port}/?directConnection=true`,
      maxChangesPerTransaction: 50,
      heartbeatIntervalMs: 500,
    });
    const run = runCapture(source, logger);
    const failures = () => lines.filter((l) => l.msg.startsWith('capture session failed'));
    const token = async () => JSON.stringify((await storedPosition(s))?.streams);
    try {
      await waitStreaming(run.capture);
      load.start();
      // A short outage: depending on where the reset hits, the driver resumes the stream
      // itself after what it delivered, or the stream fails and a new session resumes from the
      // committed token. Then one longer than the driver bridges (server selection, 10 s, twice
      // with the retried read): the stream fails for certain, and the next session resumes
      // from the committed token.
      for (const downMs of [3_000, 25_000]) {
        await sleep(2_000);
        const failuresBefore = failures().length;
        await proxy.cut();
        await sleep(1_000);
        const frozen = await token();
        await sleep(downMs - 1_000);
        expect(await token()).toBe(frozen); // nothing read while the server is away
        await proxy.restore();
        await waitFor('streaming again', 60_000, async () => (await token()) !== frozen);
        if (downMs > 20_000) expect(failures().length).toBeGreaterThan(failuresBefore);
      }
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

/**
 * sigterm: the capture (a child process running the built service) gets SIGTERM at random
 * moments while updates stream in, three times. Each time it writes what it buffered with its
 * token (or lets the open transaction abort) and exits 0 within seconds, leaving no Kafka
 * transaction open: a read_committed read of its offsets topic completes at once (an open
 * transaction would hold it until the broker times the transaction out). After the last start,
 * every update is in Kafka exactly once and in order per `_id`.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Counter, CounterLoad, expectEveryUpdateOnce } from './counters.ts';
import {
  cleanup,
  consume,
  mongoClient,
  SERVERS,
  scenario,
  serviceDir,
  spawnCapture,
  storedPosition,
  waitFor,
} from './harness.ts';

const server = SERVERS[0]!;
const s = scenario('sigterm', server);
const client = mongoClient(server.url);
const KEYS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let child: ChildProcess | undefined;

beforeAll(() => {
  // The child runs the built service.
  execFileSync('npx', ['tsc', '-b', serviceDir], { stdio: 'inherit' });
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await cleanup(s, ['counters']);
  await client.close();
});

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) =>
    c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code)),
  );

describe(`sigterm on ${server.name}`, () => {
  it('exits 0 mid-load with no transaction left open, and loses and repeats nothing', {
    timeout: 120_000,
  }, async () => {
    await client.connect();
    const load = new CounterLoad(client.db(s.db).collection<Counter>('counters'), KEYS);
    await load.seed();
    const source = s.source({ maxChangesPerTransaction: 20, heartbeatIntervalMs: 500 });
    const log = join(tmpdir(), `${s.name}.log`);
    const streamingRuns = () =>
      existsSync(log) ? readFileSync(log, 'utf8').split('"msg":"streaming"').length - 1 : 0;
    const start = async () => {
      const runs = streamingRuns();
      child = spawnCapture(source, log);
      await waitFor('the capture to stream', 60_000, () => streamingRuns() > runs);
    };
    try {
      for (let round = 0; round < 3; round++) {
        await start();
        if (round === 0) load.start(10, 5);
        await sleep(1_000 + Math.random() * 2_000);
        const t0 = Date.now();
        child!.kill('SIGTERM');
        expect(await exited(child!)).toBe(0);
        expect(Date.now() - t0).toBeLessThan(10_000);
        // Nothing left open: the read_committed read reaches the end of the topic at once.
        const t1 = Date.now();
        const stored = await storedPosition(s, 5_000);
        expect(stored?.snapshot?.complete).toBe(true);
        expect(Date.now() - t1).toBeLessThan(5_000);
      }
      await start();
      await sleep(1_000);
      await load.stop();
      const final = await load.final();
      const records = await consume([s.topicOf('counters')], {
        expected: KEYS + load.updates,
        timeoutMs: 60_000,
      });
      child!.kill('SIGTERM');
      expect(await exited(child!)).toBe(0);
      expect(readFileSync(log, 'utf8').split('"msg":"stopped"').length - 1).toBe(4);
      expectEveryUpdateOnce(records, final, server);
    } finally {
      await load.stop();
    }
  });
});

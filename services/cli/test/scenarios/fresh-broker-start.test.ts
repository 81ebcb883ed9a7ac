/**
 * fresh-broker-start: the four services of the demo pipeline, started at the same moment
 * against a broker that has none of their topics or groups, while two busy-loop processes load
 * both CPUs, 10 rounds: in every round every service answers ready on /readyz within the bound
 * and none exits. Right after a topic is created the broker answers UNKNOWN_TOPIC_OR_PARTITION
 * for a while, the processor's inputs do not exist until the captures create them, and the group
 * coordinator is still loading: every one of those is a passing state that the services wait
 * out (a new user's demo lost the sink, then the processor, to exactly this). At the end of each
 * round SIGTERM stops every service cleanly (exit 0).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  busyLoops,
  freshShop,
  type Scenario,
  SERVICES,
  ServiceProcess,
  scenario,
  wipePipeline,
} from './pipeline-harness.ts';

const ROUNDS = 10;
const READY_WITHIN_MS = 120_000;
const s: Scenario = scenario('cdc_fresh_start', 18_126);
let running: ServiceProcess[] = [];

beforeAll(async () => {
  await freshShop(s);
}, 120_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop(5_000)));
  await wipePipeline(s).catch(() => undefined);
}, 120_000);

it(`${ROUNDS} rounds: four services started at once on a broker without their topics, CPUs busy: all ready, none exits`, {
  timeout: ROUNDS * (READY_WITHIN_MS + 90_000),
}, async () => {
  const rounds: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await wipePipeline(s);
    const stopLoops = busyLoops(2);
    const t0 = Date.now();
    const readyAt = new Map<string, number>();
    try {
      running = SERVICES.map((name) => new ServiceProcess(name, s.env));
      while (readyAt.size < running.length && Date.now() - t0 < READY_WITHIN_MS) {
        for (const p of running) {
          expect(p.running, `round ${round}: ${p.name} exited:\n${p.tail()}`).toBe(true);
          if (!readyAt.has(p.name) && (await p.readyz()).ready) readyAt.set(p.name, Date.now() - t0);
        }
        await sleep(250);
      }
      for (const p of running) {
        const r = await p.readyz();
        expect(
          readyAt.has(p.name),
          `round ${round}: ${p.name} not ready after ${READY_WITHIN_MS} ms: ${r.body}\n${p.tail()}`,
        ).toBe(true);
        expect(p.running, `round ${round}: ${p.name} exited:\n${p.tail()}`).toBe(true);
      }
    } finally {
      stopLoops();
    }
    const restarts = running
      .filter((p) => p.restartCauses.length > 0)
      .map((p) => `${p.name}: ${p.restartCauses.join(', ')}`)
      .join('; ');
    const exits = await Promise.all(running.map((p) => p.stop()));
    for (const [i, e] of exits.entries())
      expect(e, `round ${round}: ${running[i]?.name} did not stop cleanly:\n${running[i]?.tail()}`).toEqual({
        code: 0,
        signal: null,
      });
    running = [];
    rounds.push(
      `round ${round}: ready in ${[...readyAt].map(([n, ms]) => `${n} ${(ms / 1000).toFixed(1)} s`).join(', ')}; in-process restarts: ${restarts || 'none'}`,
    );
  }
  process.stdout.write(`fresh-broker-start:\n${rounds.join('\n')}\n`);
});

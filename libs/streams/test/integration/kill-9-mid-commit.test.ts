import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTopics, localKafka, removeScenario, runId } from './helpers.ts';
import { Instances, keepProducing, settledOutput, sleep, tail } from './instances.ts';
import { expectedCounts, lastCounts, WINDOW_MS } from './windowed-count-topology.ts';

const run = runId();
const input = `it.streams.kill9.in.${run}`;
const output = `it.streams.kill9.out.${run}`;
const appId = `it-streams-kill9-${run}`;
const kafka = localKafka(appId);
const KILLS = 3;
let stateDir = '';
const instances = new Instances({ appId, input, output });

afterAll(async () => {
  await instances.killAll();
  await removeScenario(kafka, {
    topics: [input, output, `${appId}-counts-changelog`],
    groups: [appId],
    dirs: [stateDir],
  });
});

describe('kill-9-mid-commit', () => {
  it(`a windowed count killed ${KILLS} times at random moments ends exactly equal to a count of the input`, async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-kill9-'));
    await createTopics(kafka, [
      { topic: input, numPartitions: 2 },
      { topic: output, numPartitions: 1 },
    ]);

    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 20 * WINDOW_MS;
    // Input keeps arriving the whole time, so that every kill lands while batches are in flight.
    const input$ = keepProducing(kafka, input, (n) => ({
      key: `k${n % 20}`,
      value: String(n),
      timestamp: base + (n % 600) * 1_000,
    }));

    for (let k = 0; k < KILLS; k++) {
      const instance = await instances.start(stateDir);
      // After a kill, the group waits out the dead member's 6 s session before it reassigns the
      // partitions; kill the next instance only once it has had time to restore and process.
      await sleep((k === 0 ? 500 : 7_000) + Math.floor(Math.random() * 2_500));
      await instances.kill9(instance);
    }
    await input$.stop();

    const last = await instances.start(stateDir);
    const { sent } = input$;
    // every input record yields exactly one committed update: a doubled record shows up as an extra one
    const settled = await settledOutput(kafka, output, sent.length, 90_000);
    await instances.kill9(last);
    expect(settled.length, `committed updates against inputs; the last instance's log:\n${tail(last)}`).toBe(
      sent.length,
    );
    expect(lastCounts(settled)).toEqual(expectedCounts(sent));
  });
});

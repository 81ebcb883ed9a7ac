import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedGroupCounts } from './grouped-count-topology.ts';
import { createTopics, localKafka, removeScenario, runId } from './helpers.ts';
import { type Instance, Instances, keepProducing, settledOutput, sleep, tail } from './instances.ts';
import { lastCounts, WINDOW_MS } from './windowed-count-topology.ts';

const run = runId();
const input = `it.streams.kill9r.in.${run}`;
const output = `it.streams.kill9r.out.${run}`;
const appId = `it-streams-kill9r-${run}`;
const kafka = localKafka(appId);
const KILLS = 3;
let stateDir = '';
const instances = new Instances({ appId, input, output, topology: 'grouped' });

afterAll(async () => {
  await instances.killAll();
  await removeScenario(kafka, {
    topics: [input, output, `${appId}-by-group-repartition`, `${appId}-group-counts-changelog`],
    groups: [appId],
    dirs: [stateDir],
  });
});

describe('kill-9-with-repartition', () => {
  it(`a count grouped through a repartition topic, over two instances of which one is killed ${KILLS} times at random moments, ends exactly equal to a count of the input`, async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-kill9r-'));
    await createTopics(kafka, [
      { topic: input, numPartitions: 2 },
      { topic: output, numPartitions: 1 },
    ]);

    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 20 * WINDOW_MS;
    // Input keeps arriving the whole time, so that every kill lands while transactions are open
    // on the repartition topic, the changelog and the output.
    const input$ = keepProducing(kafka, input, (n) => ({
      key: `u${n % 40}`,
      value: `g${(n * 7) % 11}`,
      timestamp: base + (n % 600) * 1_000,
    }));

    // one state folder per instance, as on separate machines
    const start = (name: string) => instances.start(join(stateDir, name), name);
    let running: [Instance, Instance] = [await start('a0'), await start('b0')];
    for (let k = 0; k < KILLS; k++) {
      // After a kill the group waits out the dead member's 6 s session before it reassigns its
      // tasks; the next kill comes once they had time to restore and process.
      await sleep((k === 0 ? 1_000 : 7_000) + Math.floor(Math.random() * 2_500));
      const victim = Math.random() < 0.5 ? 0 : 1;
      await instances.kill9(running[victim]);
      const replacement = await start(`r${k}`);
      running = victim === 0 ? [replacement, running[1]] : [running[0], replacement];
    }
    await input$.stop();

    const { sent } = input$;
    // every input record yields exactly one committed update: a doubled record shows up as an
    // extra one, a lost one (or a stalled repartition partition) as a missing one
    const settled = await settledOutput(kafka, output, sent.length);
    const logs = running.map((i) => tail(i)).join('\n--\n');
    await instances.killAll();
    expect(settled.length, `committed updates against inputs; the running instances' logs:\n${logs}`).toBe(
      sent.length,
    );
    expect(lastCounts(settled)).toEqual(expectedGroupCounts(sent));
  });
});

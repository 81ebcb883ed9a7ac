/**
 * The zombie that exactly_once_v2 fences by group generation: an instance frozen (SIGSTOP) while
 * input flows, for longer than its consumer session and its transaction timeout, so that the
 * group hands its tasks to the other instance and the broker aborts the transaction it left
 * open. Thawed (SIGCONT), it still holds the work it processed before the freeze and believes
 * it owns its tasks; whatever it commits now must be refused (its offsets carry the old
 * generation, its producer the old epoch), its tasks must restart from what was committed, and
 * it must go on as a member of the group rather than die.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedGroupCounts } from './grouped-count-topology.ts';
import { createTopics, localKafka, removeScenario, runId } from './helpers.ts';
import { Instances, isAlive, keepProducing, settledOutput, sleep, tail } from './instances.ts';
import { lastCounts, WINDOW_MS } from './windowed-count-topology.ts';

const run = runId();
const input = `it.streams.zombie.in.${run}`;
const output = `it.streams.zombie.out.${run}`;
const appId = `it-streams-zombie-${run}`;
const kafka = localKafka(appId);
let stateDir = '';
const instances = new Instances({ appId, input, output, topology: 'grouped', verbose: true });

afterAll(async () => {
  await instances.killAll();
  await removeScenario(kafka, {
    topics: [input, output, `${appId}-by-group-repartition`, `${appId}-group-counts-changelog`],
    groups: [appId],
    dirs: [stateDir],
  });
});

describe('zombie-frozen-past-its-session', () => {
  it('an instance frozen past its session and transaction timeout, then thawed, commits nothing twice and goes on: the grouped count ends exactly equal to a count of the input', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-zombie-'));
    await createTopics(kafka, [
      { topic: input, numPartitions: 2 },
      { topic: output, numPartitions: 1 },
    ]);

    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 20 * WINDOW_MS;
    // Input arrives the whole time, so that the frozen instance holds processed, uncommitted
    // work (and, as often as not, an open transaction) when it stops.
    const input$ = keepProducing(
      kafka,
      input,
      (n) => ({ key: `u${n % 40}`, value: `g${(n * 7) % 11}`, timestamp: base + (n % 600) * 1_000 }),
      { chunk: 50, pauseMs: 50 },
    );

    const zombie = await instances.start(join(stateDir, 'a'), 'a');
    const other = await instances.start(join(stateDir, 'b'), 'b');
    await sleep(3_000);
    zombie.child.kill('SIGSTOP');
    // Past its 6 s session (the group moves its tasks to the other instance) and the 10 s
    // transaction timeout (the broker aborts what it left open and bumps its producer's epoch).
    await sleep(15_000);
    zombie.child.kill('SIGCONT');
    await sleep(10_000);
    await input$.stop();

    const { sent } = input$;
    // Every input record yields exactly one committed update: one committed twice (by the
    // zombie and by the instance that took its tasks over) shows up as an extra one.
    const settled = await settledOutput(kafka, output, sent.length);
    const alive = isAlive(zombie);
    const logs = `thawed instance:\n${tail(zombie)}\nother instance:\n${tail(other)}`;
    await instances.killAll();
    expect(alive, `the thawed instance died; its last log lines:\n${tail(zombie)}`).toBe(true);
    expect(settled.length, `committed updates against inputs; the instances' last log lines:\n${logs}`).toBe(
      sent.length,
    );
    expect(lastCounts(settled)).toEqual(expectedGroupCounts(sent));
  });
});

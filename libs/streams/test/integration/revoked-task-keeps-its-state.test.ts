/**
 * A task revoked in a rebalance (exactly_once_v2: its work since the last commit can no longer
 * be committed) keeps its stores under a checkpoint when all it handed over was committed, and
 * when it comes back to the same instance it restores only what the other instance wrote to its
 * changelog meanwhile, not the whole changelog; the counts stay exact.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTopic, waitFor } from './helpers.ts';
import { RebalanceScenario } from './rebalance-harness.ts';
import { expectedCounts, lastCounts } from './windowed-count-topology.ts';

const scenario = new RebalanceScenario('revoked');

/** The checkpoint a closed task left in its folder (undefined: none). */
async function checkpointOf(stateDir: string, task: string): Promise<Record<string, number> | undefined> {
  try {
    const text = await readFile(join(stateDir, scenario.appId, task, '.checkpoint'), 'utf8');
    return JSON.parse(text) as Record<string, number>;
  } catch {
    return undefined;
  }
}

afterAll(() => scenario.remove());

describe('revoked-task-keeps-its-state', () => {
  it('restores only what was written since a revoked task left when it comes back, and the counts stay exact', async () => {
    const { changelog } = scenario;
    await scenario.createTopics();
    const { app: a, stateDir: aDir } = await scenario.instance();
    await scenario.send(400);
    await scenario.outputsReachSent();
    await waitFor(() => a.assignedTasks.length === 4, 20_000, 'instance A to own all four tasks');
    const all = [...a.assignedTasks];

    // B joins while A is idle (everything committed): the tasks that move are lost to A.
    const { app: b } = await scenario.instance();
    await waitFor(() => a.assignedTasks.length < 4 && a.openTasks.length < 4, 30_000, 'tasks to move to B');
    const moved = all.filter((t) => !a.assignedTasks.includes(t));
    expect(moved.length).toBeGreaterThan(0);
    const checkpoints = new Map<string, Record<string, number>>();
    for (const deadline = Date.now() + 20_000; checkpoints.size < moved.length; ) {
      if (Date.now() > deadline) throw new Error(`the moved tasks ${moved} left no checkpoint on A`);
      for (const t of moved) {
        const c = await checkpointOf(aDir, t);
        if (c) checkpoints.set(t, c);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const c of checkpoints.values()) expect(c[changelog]).toBeGreaterThan(0);

    await scenario.send(400); // B counts on in the moved tasks' windows, writing their changelogs
    await scenario.outputsReachSent();
    await waitFor(() => b.openTasks.length === moved.length, 30_000, 'B to run the moved tasks');

    // What A must restore when the moved tasks come back: B's records past each checkpoint.
    const partitions = new Map(moved.map((t) => [Number(t.split('_')[1]), t]));
    let seen = -1;
    let seenAt = Date.now();
    const settled = (r: unknown[]) => {
      if (r.length !== seen) [seen, seenAt] = [r.length, Date.now()];
      return r.length > 0 && Date.now() - seenAt > 1_500;
    };
    const logged = await readTopic(scenario.kafka, changelog, settled, 30_000);
    const sinceCheckpoint = logged.filter((r) => {
      const task = partitions.get(r.partition);
      return task !== undefined && Number(r.offset) >= (checkpoints.get(task)?.[changelog] ?? 0);
    }).length;
    const whole = logged.filter((r) => partitions.has(r.partition)).length;
    expect(sinceCheckpoint).toBeGreaterThan(0);
    expect(sinceCheckpoint).toBeLessThan(whole);

    const restoredBefore = a.metrics.restored;
    await b.close(); // leaves: A takes its tasks back
    await waitFor(() => a.openTasks.length === 4, 30_000, 'A to run all four tasks again');
    expect(a.metrics.restored - restoredBefore).toBe(sinceCheckpoint);
    // The restore progress (cdc_state_restore_records over _estimated) ends at 1.
    expect(a.metrics.restoring.counts?.estimated).toBeGreaterThan(0);
    expect(a.metrics.restoring.counts?.restored).toBe(a.metrics.restoring.counts?.estimated);

    await scenario.send(400);
    const out = await scenario.outputsReachSent();
    expect(out).toHaveLength(scenario.sent.length);
    expect(lastCounts(out)).toEqual(expectedCounts(scenario.sent));
    expect(a.state).toBe('running');
  });
});

/**
 * A task revoked in a rebalance (exactly_once_v2: its work since the last commit can no longer
 * be committed) keeps its stores under a checkpoint when all it handed over was committed, and
 * when it comes back to the same instance it restores only what the other instance wrote to its
 * changelog meanwhile, not the whole changelog; the counts stay exact.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaStreams } from '../../src/index.ts';
import {
  createTopics,
  type InputRecord,
  localKafka,
  produce,
  readTopic,
  removeScenario,
  runId,
  testLogger,
  waitFor,
} from './helpers.ts';
import { expectedCounts, lastCounts, WINDOW_MS, windowedCountTopology } from './windowed-count-topology.ts';

const run = runId();
const input = `it.streams.revoked.in.${run}`;
const output = `it.streams.revoked.out.${run}`;
const appId = `it-streams-revoked-${run}`;
const changelog = `${appId}-counts-changelog`;
const kafka = localKafka(appId);
const dirs: string[] = [];
const apps: KafkaStreams[] = [];

async function instance(): Promise<{ app: KafkaStreams; stateDir: string }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'streams-revoked-'));
  dirs.push(stateDir);
  const app = new KafkaStreams(windowedCountTopology(input, output), {
    applicationId: appId,
    kafka,
    stateDir,
    logger: testLogger(),
    sessionTimeoutMs: 6_000,
  });
  apps.push(app);
  await app.start();
  return { app, stateDir };
}

/** The checkpoint a closed task left in its folder (undefined: none). */
async function checkpointOf(stateDir: string, task: string): Promise<Record<string, number> | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, appId, task, '.checkpoint'), 'utf8')) as Record<
      string,
      number
    >;
  } catch {
    return undefined;
  }
}

afterAll(async () => {
  for (const a of apps) await a.close().catch(() => {});
  await removeScenario(kafka, { topics: [input, output, changelog], groups: [appId], dirs });
});

describe('revoked-task-keeps-its-state', () => {
  it('restores only what was written since a revoked task left when it comes back, and the counts stay exact', async () => {
    await createTopics(kafka, [
      { topic: input, numPartitions: 4 },
      { topic: output, numPartitions: 1 },
    ]);
    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 5 * WINDOW_MS;
    let n = 0;
    const chunk = (count: number): InputRecord[] =>
      Array.from({ length: count }, () => {
        const i = n++;
        // every key's two windows are counted in all three phases
        return {
          key: `k${i % 40}`,
          value: String(i),
          timestamp: base + (i % 2) * WINDOW_MS + (i % 7) * 1_000,
        };
      });
    const sent: InputRecord[] = [];
    const send = async (records: InputRecord[]) => {
      await produce(kafka, input, records);
      sent.push(...records);
    };
    const outputsReach = (count: number) => readTopic(kafka, output, (r) => r.length >= count, 60_000);

    const { app: a, stateDir: aDir } = await instance();
    await send(chunk(400));
    await outputsReach(sent.length);
    await waitFor(() => a.assignedTasks.length === 4, 20_000, 'instance A to own all four tasks');
    const all = [...a.assignedTasks];

    // B joins while A is idle (everything committed): the tasks that move are lost to A.
    const { app: b } = await instance();
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

    await send(chunk(400)); // B counts on in the moved tasks' windows, writing their changelogs
    await outputsReach(sent.length);
    await waitFor(() => b.openTasks.length === moved.length, 30_000, 'B to run the moved tasks');

    // What A must restore when the moved tasks come back: B's records past each checkpoint.
    const partitions = new Map(moved.map((t) => [Number(t.split('_')[1]), t]));
    let seen = -1;
    let seenAt = Date.now();
    const settled = (r: unknown[]) => {
      if (r.length !== seen) [seen, seenAt] = [r.length, Date.now()];
      return r.length > 0 && Date.now() - seenAt > 1_500;
    };
    const logged = await readTopic(kafka, changelog, settled, 30_000);
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

    await send(chunk(400));
    const out = await outputsReach(sent.length);
    expect(out).toHaveLength(sent.length);
    expect(lastCounts(out)).toEqual(expectedCounts(sent));
    expect(a.state).toBe('running');
  });
});

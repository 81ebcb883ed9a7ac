import { mkdtemp } from 'node:fs/promises';
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
const input = `it.streams.rebalance.in.${run}`;
const output = `it.streams.rebalance.out.${run}`;
const appId = `it-streams-rebalance-${run}`;
const kafka = localKafka(appId);
const dirs: string[] = [];
const apps: KafkaStreams[] = [];

async function instance(): Promise<KafkaStreams> {
  const stateDir = await mkdtemp(join(tmpdir(), 'streams-rebalance-'));
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
  return app;
}

afterAll(async () => {
  for (const a of apps) await a.close().catch(() => {});
  await removeScenario(kafka, {
    topics: [input, output, `${appId}-counts-changelog`],
    groups: [appId],
    dirs,
  });
});

describe('rebalance-mid-window', () => {
  it('moves window state between two instances as they join and leave, and the counts stay exact', async () => {
    await createTopics(kafka, [
      { topic: input, numPartitions: 4 },
      { topic: output, numPartitions: 1 },
    ]);
    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 5 * WINDOW_MS;
    let n = 0;
    const chunk = (count: number): InputRecord[] =>
      Array.from({ length: count }, () => {
        const i = n++;
        // two windows per key, each filled across all three phases
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

    const a = await instance();
    await send(chunk(200));
    await outputsReach(sent.length);
    await waitFor(() => a.assignedTasks.length === 4, 20_000, 'instance A to own all four tasks');

    const b = await instance(); // joins mid-window: half the tasks move to B, which restores them
    await waitFor(() => a.assignedTasks.length < 4, 30_000, 'the rebalance to take tasks away from A');
    await send(chunk(200));
    await outputsReach(sent.length);
    expect(b.assignedTasks.length).toBeGreaterThan(0);
    expect(b.openTasks).toEqual(b.assignedTasks); // B restored and ran the tasks it took over
    expect(a.assignedTasks.length + b.assignedTasks.length).toBe(4);

    await a.close(); // leaves: B takes every task back
    await send(chunk(200));
    const all = await outputsReach(sent.length);
    await waitFor(() => b.assignedTasks.length === 4, 30_000, 'instance B to own all four tasks');
    expect(all).toHaveLength(sent.length);
    expect(lastCounts(all)).toEqual(expectedCounts(sent));
    expect(b.state).toBe('running');
  });
});

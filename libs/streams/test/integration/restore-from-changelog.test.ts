import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopicsIfExist, ensureTopics } from '@cdc/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaStreams } from '../../src/index.ts';
import { type InputRecord, localKafka, produce, readTopic, runId, testLogger } from './helpers.ts';
import { expectedCounts, lastCounts, WINDOW_MS, windowedCountTopology } from './windowed-count-topology.ts';

const run = runId();
const input = `it.streams.restore.in.${run}`;
const output = `it.streams.restore.out.${run}`;
const appId = `it-streams-restore-${run}`;
const kafka = localKafka(appId);
let stateDir = '';

function records(from: number, count: number, base: number): InputRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `k${(from + i) % 5}`,
    value: String(from + i),
    timestamp: base + ((from + i) % 3) * 1_000,
  }));
}

afterAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await deleteTopicsIfExist(admin, [input, output, `${appId}-counts-changelog`]);
  await admin.deleteGroups([appId]).catch(() => {});
  await admin.disconnect();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('restore-from-changelog', () => {
  it('rebuilds a windowed count from its changelog after the local LevelDB folder is deleted', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-restore-'));
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      { topic: input, numPartitions: 2 },
      { topic: output, numPartitions: 1 },
    ]);
    await admin.disconnect();
    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 10 * WINDOW_MS;
    const first = records(0, 40, base);
    const second = records(40, 30, base);
    await produce(kafka, input, first);

    const app1 = new KafkaStreams(windowedCountTopology(input, output), {
      applicationId: appId,
      kafka,
      stateDir,
      logger: testLogger(),
    });
    await app1.start();
    const afterFirst = await readTopic(kafka, output, (r) => r.length >= first.length);
    expect(afterFirst).toHaveLength(first.length);
    await app1.close();
    expect(app1.state).toBe('closed');

    // the stores were on disk, with a checkpoint; now they are gone
    expect((await readdir(join(stateDir, appId))).length).toBeGreaterThan(0);
    await rm(join(stateDir, appId), { recursive: true, force: true });

    await produce(kafka, input, second);
    const app2 = new KafkaStreams(windowedCountTopology(input, output), {
      applicationId: appId,
      kafka,
      stateDir,
      logger: testLogger(),
    });
    await app2.start();
    const all = await readTopic(kafka, output, (r) => r.length >= first.length + second.length);
    await app2.close();
    expect(all).toHaveLength(first.length + second.length);
    // had the counts restarted from zero, the windows spanning both runs would be short
    expect(lastCounts(all)).toEqual(expectedCounts([...first, ...second]));
  });
});

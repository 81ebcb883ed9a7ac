import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIdempotentProducer } from '@cdc/kafka';
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
} from './helpers.ts';
import { expectedCounts, lastCounts, WINDOW_MS, windowedCountTopology } from './windowed-count-topology.ts';

const run = runId();
const input = `it.streams.restore.in.${run}`;
const output = `it.streams.restore.out.${run}`;
const appId = `it-streams-restore-${run}`;
const kafka = localKafka(appId);
let stateDir = '';
const claimIn = `it.streams.claim.in.${run}`;
const claimOut = `it.streams.claim.out.${run}`;
const claimApp = `it-streams-claim-${run}`;
let claimStateDir = '';

function records(from: number, count: number, base: number): InputRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `k${(from + i) % 5}`,
    value: String(from + i),
    timestamp: base + ((from + i) % 3) * 1_000,
  }));
}

afterAll(async () => {
  await removeScenario(kafka, {
    topics: [input, output, `${appId}-counts-changelog`, claimIn, claimOut, `${claimApp}-counts-changelog`],
    groups: [appId, claimApp],
    dirs: [stateDir, claimStateDir],
  });
});

describe('restore-from-changelog', () => {
  it('rebuilds a windowed count from its changelog after the local LevelDB folder is deleted', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-restore-'));
    await createTopics(kafka, [
      { topic: input, numPartitions: 2 },
      { topic: output, numPartitions: 1 },
    ]);
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

  it("restores, rather than claims, what another owner wrote to a changelog after this instance's last commit", async () => {
    // The race it stands for: a task closes cleanly (it was revoked, or its member was removed
    // from the group) while its next owner already writes the changelog. The checkpoint must say
    // where this instance's own writes end, so that the next open here restores the rest.
    claimStateDir = await mkdtemp(join(tmpdir(), 'streams-claim-'));
    await createTopics(kafka, [
      { topic: claimIn, numPartitions: 1 },
      { topic: claimOut, numPartitions: 1 },
    ]);
    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 10 * WINDOW_MS;
    const one = (i: number): InputRecord => ({ key: 'a', value: String(i), timestamp: base });
    await produce(kafka, claimIn, [1, 2, 3, 4, 5].map(one));
    const start = () =>
      new KafkaStreams(windowedCountTopology(claimIn, claimOut), {
        applicationId: claimApp,
        kafka,
        stateDir: claimStateDir,
        logger: testLogger(),
      });
    const app1 = start();
    await app1.start();
    expect(lastCounts(await readTopic(kafka, claimOut, (r) => r.length >= 5)).get(`a@${base}`)).toBe(5);

    // "Another owner" deletes the window's state (a tombstone in the changelog) after app1's
    // last commit, before its close.
    const changelog = `${claimApp}-counts-changelog`;
    // The window's own entry (its key starts 0x00; beside it the store logs its by-end index
    // and its stream time).
    const isWindow = (r: { keyBytes: Buffer | null }) => r.keyBytes?.[0] === 0x00;
    const logged = await readTopic(kafka, changelog, (r) => r.some(isWindow));
    const windowKey = logged.findLast(isWindow)?.keyBytes ?? null;
    expect(windowKey).not.toBeNull();
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    await producer.send({ topic: changelog, messages: [{ key: windowKey, value: null, partition: 0 }] });
    await producer.disconnect();

    await app1.close();
    // A clean close: the checkpoint is there, so the next open restores from it, not from scratch.
    const checkpoint = JSON.parse(
      await readFile(join(claimStateDir, claimApp, '0_0', '.checkpoint'), 'utf8'),
    );
    expect(checkpoint[changelog]).toBeGreaterThan(0);

    await produce(kafka, claimIn, [one(6)]);
    const app2 = start();
    await app2.start();
    const all = await readTopic(kafka, claimOut, (r) => r.length >= 6);
    await app2.close();
    // Had the checkpoint claimed the other owner's tombstone, the store would still hold 5 here
    // and count 6: the state would silently differ from its changelog.
    expect(all.at(-1)?.value?.toString()).toBe('1');
    // app2 alone wrote after its restore: its checkpoint claims the changelog to its end (its
    // last transaction's commit marker included), so an ordinary restart restores nothing.
    const checkpoint2 = JSON.parse(
      await readFile(join(claimStateDir, claimApp, '0_0', '.checkpoint'), 'utf8'),
    );
    const admin2 = kafka.admin();
    await admin2.connect();
    const end = (await admin2.fetchTopicOffsets(changelog)).find((o) => o.partition === 0)?.high;
    await admin2.disconnect();
    expect(checkpoint2[changelog]).toBe(Number(end));
  });
});

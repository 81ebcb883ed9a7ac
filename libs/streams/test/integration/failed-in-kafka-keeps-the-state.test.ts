/**
 * An application that fails in Kafka stops loudly, and keeps its stores. Here a count is too
 * large for its output topic (`max.message.bytes`): the broker refuses the transaction, the
 * application fails and is closed. Its tasks' LevelDB never held that transaction's writes, so
 * each task leaves a checkpoint (before, none: the restart restored every changelog whole). Once
 * the topic's limit is raised, a restart on the same state directory restores none of the
 * changelogs, redoes the refused work, and the counts are exact.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCdcError } from '@cdc/core';
import { ensureTopics } from '@cdc/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaStreams } from '../../src/index.ts';
import { readCheckpoint } from '../../src/runtime/checkpoint.ts';
import {
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
const input = `it.streams.kafka-failed.in.${run}`;
const output = `it.streams.kafka-failed.out.${run}`;
const appId = `it-streams-kafka-failed-${run}`;
const changelog = `${appId}-counts-changelog`;
const kafka = localKafka(appId);
const dirs: string[] = [];
const apps: KafkaStreams[] = [];
/** The output value of key `oversized`: past the output topic's limit until it is raised. */
const OVERSIZED = 'x'.repeat(300_000);

afterAll(async () => {
  for (const a of apps) await a.close().catch(() => {});
  await removeScenario(kafka, { topics: [input, output, changelog], groups: [appId], dirs });
});

async function started(stateDir: string): Promise<KafkaStreams> {
  const topology = windowedCountTopology(input, output, 'on-update', (key, count) =>
    key === 'oversized' ? OVERSIZED : String(count),
  );
  const app = new KafkaStreams(topology, {
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

describe('failed-in-kafka-keeps-the-state', () => {
  it('keeps every store under a checkpoint when the broker refuses a transaction, and the restart restores nothing', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [
        { topic: input, numPartitions: 4 },
        { topic: output, numPartitions: 1, config: { 'max.message.bytes': '100000' } },
      ]);
    } finally {
      await admin.disconnect();
    }
    const stateDir = await mkdtemp(join(tmpdir(), `streams-${appId}-`));
    dirs.push(stateDir);
    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 5 * WINDOW_MS;
    const sent: InputRecord[] = Array.from({ length: 400 }, (_, i) => ({
      key: `k${i % 40}`,
      value: String(i),
      timestamp: base + (i % 2) * WINDOW_MS,
    }));
    const reach = (n: number) => readTopic(kafka, output, (r) => r.length >= n, 60_000);

    const first = await started(stateDir);
    await produce(kafka, input, sent);
    await reach(sent.length);
    const oversized: InputRecord = { key: 'oversized', value: 'v', timestamp: base };
    await produce(kafka, input, [oversized]);
    await waitFor(
      () => first.state === 'failed',
      30_000,
      'the application to fail on the refused transaction',
    );
    expect(isCdcError(first.error, 'KAFKA_REQUEST_FAILED')).toBe(true);
    await first.close();

    const checkpoints = await Promise.all(
      [0, 1, 2, 3].map((p) => readCheckpoint(join(stateDir, appId, `0_${p}`))),
    );
    for (const c of checkpoints) expect(c?.[changelog]).toBeGreaterThan(0);

    // The operator raises the output topic's limit and starts the processor again.
    const raise = kafka.admin();
    await raise.connect();
    try {
      await ensureTopics(raise, [{ topic: output, atLeast: { 'max.message.bytes': 1_000_000 } }]);
    } finally {
      await raise.disconnect();
    }
    const second = await started(stateDir);
    const out = await reach(sent.length + 1);
    expect(second.metrics.restored).toBe(0);
    expect(out).toHaveLength(sent.length + 1);
    expect(out.at(-1)?.value?.length).toBe(OVERSIZED.length);
    const counts = lastCounts(out.filter((r) => !r.key.startsWith('oversized@')));
    expect(counts).toEqual(expectedCounts(sent));
    expect(second.state).toBe('running');
  });
});

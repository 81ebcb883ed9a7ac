import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@cdc/core';
import type { Kafka } from '@cdc/kafka';
import { KafkaStreams } from '../../src/index.ts';
import {
  createTopics,
  type InputRecord,
  localKafka,
  type OutputRecord,
  produce,
  readTopic,
  removeScenario,
  runId,
  testLogger,
} from './helpers.ts';
import { WINDOW_MS, windowedCountTopology } from './windowed-count-topology.ts';

/**
 * Instances of one windowed-count application (4 input partitions) joining and leaving in a
 * test, each on its own state directory, and the input they were sent: the rebalance
 * scenarios' common part.
 */
export class RebalanceScenario {
  readonly input: string;
  readonly output: string;
  readonly appId: string;
  readonly kafka: Kafka;
  readonly sent: InputRecord[] = [];
  private readonly dirs: string[] = [];
  private readonly apps: KafkaStreams[] = [];
  private readonly base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 5 * WINDOW_MS;
  private n = 0;

  constructor(name: string) {
    const run = runId();
    this.input = `it.streams.${name}.in.${run}`;
    this.output = `it.streams.${name}.out.${run}`;
    this.appId = `it-streams-${name}-${run}`;
    this.kafka = localKafka(this.appId);
  }

  get changelog(): string {
    return `${this.appId}-counts-changelog`;
  }

  async createTopics(): Promise<void> {
    await createTopics(this.kafka, [
      { topic: this.input, numPartitions: 4 },
      { topic: this.output, numPartitions: 1 },
    ]);
  }

  /** A started instance and its state directory. */
  async instance(options: { logger?: Logger } = {}): Promise<{ app: KafkaStreams; stateDir: string }> {
    const stateDir = await mkdtemp(join(tmpdir(), `streams-${this.appId}-`));
    this.dirs.push(stateDir);
    const app = new KafkaStreams(windowedCountTopology(this.input, this.output), {
      applicationId: this.appId,
      kafka: this.kafka,
      stateDir,
      logger: options.logger ?? testLogger(),
      sessionTimeoutMs: 6_000,
    });
    this.apps.push(app);
    await app.start();
    return { app, stateDir };
  }

  /** Sends `count` records over 40 keys, each key's two windows counted in every phase of a test. */
  async send(count: number): Promise<void> {
    const records = Array.from({ length: count }, (): InputRecord => {
      const i = this.n++;
      return {
        key: `k${i % 40}`,
        value: String(i),
        timestamp: this.base + (i % 2) * WINDOW_MS + (i % 7) * 1_000,
      };
    });
    await produce(this.kafka, this.input, records);
    this.sent.push(...records);
  }

  /** The output once it holds a record per input sent. */
  outputsReachSent(): Promise<OutputRecord[]> {
    return readTopic(this.kafka, this.output, (r) => r.length >= this.sent.length, 60_000);
  }

  async remove(): Promise<void> {
    for (const a of this.apps) await a.close().catch(() => {});
    await removeScenario(this.kafka, {
      topics: [this.input, this.output, this.changelog],
      groups: [this.appId],
      dirs: this.dirs,
    });
  }
}

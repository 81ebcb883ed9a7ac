import { randomUUID } from 'node:crypto';
import type { Logger } from '@cdc/core';
import { type Consumer, ensureTopics, type Kafka, type Producer, reopenWhenGivenUp } from '@cdc/kafka';

/** What an instance tells the others: where it answers queries and which tasks it holds. */
export interface Member {
  instanceId: string;
  url: string;
  tasks: string[];
  atMs: number;
  /** False once the instance closed cleanly. */
  alive: boolean;
}

/**
 * Instances of one application find each other through a small compacted topic
 * `<applicationId>-iq-members`: each writes its query URL and assigned tasks whenever they
 * change, and reads everyone's. A killed instance's record stays until its tasks show up under
 * another instance (the freshest claim of a task wins).
 */
export class Membership {
  readonly instanceId = randomUUID();
  private readonly topic: string;
  private readonly kafka: Kafka;
  private readonly logger: Logger;
  private readonly members = new Map<string, Member>();
  private producer: Producer | undefined;
  private consumer: Consumer | undefined;
  private last = '';

  constructor(kafka: Kafka, applicationId: string, logger: Logger) {
    this.kafka = kafka;
    this.topic = `${applicationId}-iq-members`;
    this.logger = logger;
  }

  async start(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [
        { topic: this.topic, numPartitions: 1, config: { 'cleanup.policy': 'compact' } },
      ]);
    } finally {
      await admin.disconnect();
    }
    this.producer = this.kafka.producer();
    await this.producer.connect();
    await this.follow();
  }

  /** Reads everyone's records; a consumer kafkajs gave up on is replaced 2 s later. */
  private async follow(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: `${this.topic}-${this.instanceId}`,
      maxWaitTimeInMs: 200,
    });
    this.consumer = consumer;
    reopenWhenGivenUp(consumer, {
      what: `reading ${this.topic}`,
      current: () => this.consumer,
      reopen: () => this.follow(),
      logger: this.logger,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        const m = JSON.parse(message.value.toString('utf8')) as Member;
        this.members.set(m.instanceId, m);
      },
    });
  }

  /** Publishes this instance's URL and tasks when they changed. */
  async announce(url: string, tasks: string[], alive = true): Promise<void> {
    const text = JSON.stringify({ url, tasks, alive });
    if (text === this.last || !this.producer) return;
    this.last = text;
    const m: Member = { instanceId: this.instanceId, url, tasks, atMs: Date.now(), alive };
    this.members.set(m.instanceId, m);
    await this.producer.send({
      topic: this.topic,
      messages: [{ key: m.instanceId, value: JSON.stringify(m) }],
    });
  }

  /** The instance that most recently claimed `task`, if any. */
  ownerOf(task: string): Member | undefined {
    let best: Member | undefined;
    for (const m of this.members.values())
      if (m.alive && m.tasks.includes(task) && (!best || m.atMs > best.atMs)) best = m;
    return best;
  }

  async stop(url: string): Promise<void> {
    await this.announce(url, [], false).catch((err) =>
      this.logger.warn('could not announce leaving', { err }),
    );
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.disconnect().catch(() => {});
    await this.producer?.disconnect().catch(() => {});
  }
}

import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// patches/kafkajs+2.2.4.patch: createTopics with waitForLeaders polls the new topics' metadata
// while it is answered LEADER_NOT_AVAILABLE. A KRaft broker (the stack's, Kafka 4) answers
// UNKNOWN_TOPIC_OR_PARTITION for a topic it has just created until the topic's metadata reaches
// it, and kafkajs failed the creation on that answer: in a demo on a busy machine, control's
// `ensureTopics` of its audit topic failed so and the API started a second time. Both answers
// now mean "not yet".
const require = createRequire(import.meta.url);
const { KafkaJSProtocolError } = require('kafkajs/src/errors.js') as {
  KafkaJSProtocolError: new (e: { type: string; code: number; retriable: boolean; message: string }) => Error;
};
const createAdmin = require('kafkajs/src/admin/index.js') as (o: unknown) => {
  createTopics(o: { topics: { topic: string }[]; waitForLeaders?: boolean }): Promise<boolean>;
};

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const logger = { ...quiet, namespace: () => quiet };
const unknownTopic = () =>
  new KafkaJSProtocolError({
    type: 'UNKNOWN_TOPIC_OR_PARTITION',
    code: 3,
    retriable: true,
    message: 'This server does not host this topic-partition',
  });
const invalidConfig = () =>
  new KafkaJSProtocolError({ type: 'INVALID_CONFIG', code: 40, retriable: false, message: 'bad config' });

/** An admin whose controller creates topics at once and answers metadata with `answers` in turn. */
function adminWith(answers: (() => Error | undefined)[]) {
  let asked = 0;
  const broker = {
    createTopics: async () => {},
    metadata: async () => {
      asked += 1;
      const error = (answers.shift() ?? (() => undefined))();
      if (error) throw error;
      return { topicMetadata: [] };
    },
  };
  const cluster = { refreshMetadata: async () => {}, findControllerBroker: async () => broker };
  return { admin: createAdmin({ logger, cluster, retry: { retries: 0 } }), asked: () => asked };
}

describe('kafkajs createTopics (patched): waiting for the new topics', () => {
  it('waits while the broker does not know the topic it just created yet', async () => {
    const { admin, asked } = adminWith([unknownTopic, unknownTopic, unknownTopic]);
    await expect(admin.createTopics({ topics: [{ topic: 't' }], waitForLeaders: true })).resolves.toBe(true);
    expect(asked()).toBe(4);
  });

  it('still fails on an answer that is not a wait', async () => {
    const { admin } = adminWith([invalidConfig]);
    await expect(admin.createTopics({ topics: [{ topic: 't' }], waitForLeaders: true })).rejects.toThrow(
      'bad config',
    );
  });
});

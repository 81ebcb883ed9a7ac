import { randomUUID } from 'node:crypto';
import { createJsonLogger } from '@cdc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { createKafka, KafkaConfigSchema } from '../../src/index.ts';

// patches/kafkajs+2.2.4.patch: kafkajs logs every error answer of the broker as an error line,
// including the retriable ones it retries (a coordinator loading on a broker just started, a
// topic's leader being elected). A healthy demo start logged a few of those as errors. Retriable
// answers are now warnings, as Java's client logs them; the caller still reports the failure if
// its retries run out. An answer that no retry can change stays an error.
const run = randomUUID().slice(0, 8);

function recordingClient(name: string) {
  const lines: { level: string; msg: string; error?: string }[] = [];
  const logger = createJsonLogger({
    level: 'warn',
    write: (line) => void lines.push(JSON.parse(line) as { level: string; msg: string; error?: string }),
  });
  const kafka = createKafka(
    KafkaConfigSchema.parse({
      brokers: localEndpoints().kafka.brokers,
      clientId: `it-${run}-${name}`,
      retry: { retries: 0 },
    }),
    logger,
  );
  return { kafka, lines };
}

describe('kafkajs log levels of broker answers', () => {
  const admins: { disconnect(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const a of admins) await a.disconnect();
  });

  it('logs a retriable answer (an unknown topic, which may be one being created) as a warning, not an error', async () => {
    const { kafka, lines } = recordingClient('retriable');
    const admin = kafka.admin();
    admins.push(admin);
    await admin.connect();
    await expect(admin.fetchTopicMetadata({ topics: [`it.kafka.absent.${run}`] })).rejects.toThrow(
      /does not host this topic-partition/,
    );
    const answers = lines.filter((l) => l.msg.startsWith('Response Metadata'));
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.map((l) => l.level)).toEqual(answers.map(() => 'warn'));
    expect(answers[0]?.error).toMatch(/does not host this topic-partition/);
  });

  it('still logs an answer that no retry changes (an invalid topic config) as an error', async () => {
    const { kafka, lines } = recordingClient('fatal');
    const admin = kafka.admin();
    admins.push(admin);
    await admin.connect();
    await expect(
      admin.createTopics({
        topics: [
          {
            topic: `it.kafka.bad-config.${run}`,
            configEntries: [{ name: 'cleanup.policy', value: 'not-a-policy' }],
          },
        ],
      }),
    ).rejects.toThrow();
    const answers = lines.filter((l) => l.msg.startsWith('Response CreateTopics'));
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.map((l) => l.level)).toEqual(answers.map(() => 'error'));
  });
});

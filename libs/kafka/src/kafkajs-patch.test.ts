import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// patches/kafkajs+2.2.4.patch replaces kafkajs' quadratic grouping of a send's messages by
// partition with a linear one; a send must still reach each partition whole and in order.
const require = createRequire(import.meta.url);
const group = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
  topic: string;
  partitionMetadata: unknown[];
  messages: { key: string; partition: number }[];
  partitioner: (a: { message: { partition: number } }) => number;
}) => Record<string, { key: string }[]>;

describe('kafkajs message grouping (patched)', () => {
  it('keeps every message of a partition, in the order sent', () => {
    const messages = Array.from({ length: 30_000 }, (_, i) => ({ key: `k${i}`, partition: (i * 7) % 3 }));
    const grouped = group({
      topic: 't',
      partitionMetadata: [{}, {}, {}],
      messages,
      partitioner: ({ message }) => message.partition,
    });
    expect(Object.keys(grouped).sort()).toEqual(['0', '1', '2']);
    for (const p of [0, 1, 2])
      expect(grouped[p]?.map((m) => m.key)).toEqual(
        messages.filter((m) => m.partition === p).map((m) => m.key),
      );
  });

  it('is the patched, linear version', () => {
    const source = group.toString();
    expect(source).not.toContain('[...current, message]');
  });
});

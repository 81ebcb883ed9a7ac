import { describe, expect, it } from 'vitest';
import { partitionKey, sameTopics } from './batch-consumer.ts';

describe('the batch consumer subscription', () => {
  it('tells a changed set of topics apart', () => {
    expect(sameTopics(['a', 'b'], ['a', 'b'])).toBe(true);
    expect(sameTopics(['a'], ['a', 'b'])).toBe(false);
    expect(sameTopics(['a', 'c'], ['a', 'b'])).toBe(false);
  });

  it('keys a partition so that no topic name can collide with another partition', () => {
    expect(partitionKey('a.1', 2)).not.toBe(partitionKey('a', 12));
    expect(partitionKey('t', 0)).toBe(partitionKey('t', 0));
  });
});

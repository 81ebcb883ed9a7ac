import { describe, expect, it } from 'vitest';
import { offsetRanges, partitionKey, sameTopics } from './batch-consumer.ts';

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

describe('offsetRanges (what a batch commits, and its insert token)', () => {
  const r = (topic: string, partition: number, offset: string) => ({ topic, partition, offset });

  it('gives each partition its first and last offset, compared as numbers, across interleaved runs', () => {
    const records = [
      r('a', 0, '98'),
      r('a', 0, '99'),
      r('a', 1, '7'),
      r('b', 0, '5'),
      r('a', 0, '100'),
      r('a', 0, '9'),
    ];
    const ranges = offsetRanges(records);
    expect([...ranges.values()]).toEqual([
      { topic: 'a', partition: 0, first: '9', last: '100' },
      { topic: 'a', partition: 1, first: '7', last: '7' },
      { topic: 'b', partition: 0, first: '5', last: '5' },
    ]);
    expect(ranges.get(partitionKey('a', 1))?.last).toBe('7');
  });

  it('leaves out the topics it is told to skip, asking once per run of a topic', () => {
    const asked: string[] = [];
    const skip = (topic: string) => {
      asked.push(topic);
      return topic === 'held';
    };
    const records = [
      r('held', 0, '1'),
      r('held', 0, '2'),
      r('held', 1, '3'),
      r('ok', 0, '4'),
      r('held', 0, '5'),
    ];
    expect([...offsetRanges(records, skip).values()]).toEqual([
      { topic: 'ok', partition: 0, first: '4', last: '4' },
    ]);
    expect(asked).toEqual(['held', 'ok', 'held']);
  });

  it('handles offsets past 2^53 exactly', () => {
    const records = [r('t', 0, '9007199254740993'), r('t', 0, '9007199254740992')];
    expect([...offsetRanges(records).values()][0]).toMatchObject({
      first: '9007199254740992',
      last: '9007199254740993',
    });
  });
});

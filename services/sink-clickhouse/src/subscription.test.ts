import { describe, expect, it } from 'vitest';
import { matchTopics, sameTopics } from './subscription.ts';

describe('topics the sink subscribes to', () => {
  const existing = [
    'demo.db.public.orders',
    'demo.db.public.new_t',
    '__consumer_offsets',
    'demo.dlq',
    'other',
  ];

  it('resolves names and /regex/ against the existing topics, sorted', () => {
    expect(matchTopics(['/^demo\\./', 'other'], existing)).toEqual([
      'demo.db.public.new_t',
      'demo.db.public.orders',
      'demo.dlq',
      'other',
    ]);
    expect(matchTopics(['missing'], existing)).toEqual([]);
  });

  it('never selects internal topics or the sink dead-letter topic', () => {
    expect(matchTopics(['/.*/'], existing, ['demo.dlq'])).toEqual([
      'demo.db.public.new_t',
      'demo.db.public.orders',
      'other',
    ]);
  });

  it('tells a changed set apart', () => {
    expect(sameTopics(['a', 'b'], ['a', 'b'])).toBe(true);
    expect(sameTopics(['a'], ['a', 'b'])).toBe(false);
    expect(sameTopics(['a', 'c'], ['a', 'b'])).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { matchTopics } from './subscription.ts';

describe('topics the sink subscribes to', () => {
  const existing = [
    'demo.db.public.orders',
    'demo.db.public.new_t',
    '__consumer_offsets',
    'demo.dlq',
    'my-sink-errors',
    'other',
  ];

  it('resolves names and /regex/ against the existing topics, sorted', () => {
    expect(matchTopics(['/^demo\\./', 'other'], existing, 'my-sink-errors')).toEqual([
      'demo.db.public.new_t',
      'demo.db.public.orders',
      'other',
    ]);
    expect(matchTopics(['missing'], existing, 'my-sink-errors')).toEqual([]);
  });

  it('never selects internal topics or its own dead-letter topic, whatever it is named', () => {
    expect(matchTopics(['/.*/'], existing, 'my-sink-errors')).toEqual([
      'demo.db.public.new_t',
      'demo.db.public.orders',
      'other',
    ]);
  });
});

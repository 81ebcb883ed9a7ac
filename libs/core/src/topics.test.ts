import { describe, expect, it } from 'vitest';
import { isInternalTopic, readDeadLetter, selectTopics, topicKind } from './topics.ts';

describe('topic kinds', () => {
  it('names every topic the pipeline writes', () => {
    expect(topicKind('shop.shop.public.orders')).toBe('change');
    expect(topicKind('shop.enriched_orders')).toBe('change');
    expect(topicKind('cdc.offsets')).toBe('offsets');
    expect(topicKind('shop-offsets', { offsetsTopics: ['shop-offsets'] })).toBe('offsets');
    expect(topicKind('shop.dead-letter')).toBe('dead-letter');
    expect(topicKind('shop.quarantine')).toBe('quarantine');
    expect(topicKind('cdc.sink-clickhouse.dlq')).toBe('sink-dead-letter');
    expect(topicKind('cdc-processor-revenue-changelog')).toBe('changelog');
    expect(topicKind('cdc-processor-by-customer-repartition')).toBe('repartition');
    expect(topicKind('__consumer_offsets')).toBe('system');
    expect(topicKind('_schemas')).toBe('system');
  });

  it('the old default pattern of the sink selected internal topics; selectTopics never does', () => {
    const existing = [
      'cdc.offsets',
      'shop.dead-letter',
      'shop.quarantine',
      'cdc-processor-revenue-changelog',
      'shop.shop.public.orders',
      '__transaction_state',
    ];
    const oldDefault = /^(?!.*\.dlq$)(?!__).*/;
    expect(existing.filter((t) => oldDefault.test(t))).toContain('cdc.offsets');
    expect(selectTopics(['/.*/'], existing)).toEqual(['shop.shop.public.orders']);
    expect(selectTopics(['cdc.offsets', 'shop.shop.public.orders'], existing)).toEqual([
      'shop.shop.public.orders',
    ]);
    expect(isInternalTopic('shop.shop.public.orders')).toBe(false);
  });
});

describe('dead-letter headers', () => {
  it('reads the capture and processor set', () => {
    expect(
      readDeadLetter({
        'cdc.error.code': 'POISON_RECORD',
        'cdc.error.message': 'not UTF-8',
        'cdc.source.topic': 'shop.shop.public.orders',
      }),
    ).toEqual({ code: 'POISON_RECORD', message: 'not UTF-8', topic: 'shop.shop.public.orders' });
  });

  it('reads the sink set, Buffers included', () => {
    expect(
      readDeadLetter({
        'cdc.dlq.code': Buffer.from('SCHEMA_INCOMPATIBLE'),
        'cdc.dlq.reason': Buffer.from('column x changed type'),
        'cdc.dlq.topic': Buffer.from('shop.shop.public.orders'),
      }),
    ).toEqual({
      code: 'SCHEMA_INCOMPATIBLE',
      message: 'column x changed type',
      topic: 'shop.shop.public.orders',
    });
  });

  it('is null for a record that is no dead letter', () => {
    expect(readDeadLetter({ 'cdc.change-id': 'x' })).toBeNull();
  });
});

describe('the control plane’s topics', () => {
  it('are internal: the held records of paused tables and the signal topic', () => {
    expect(topicKind('__shop.paused')).toBe('held');
    expect(topicKind('__cdc.signals')).toBe('signal');
    expect(topicKind('ops.signals', { signalTopics: ['ops.signals'] })).toBe('signal');
    expect(selectTopics(['/.*/'], ['__shop.paused', '__cdc.signals', 'cdc.audit'])).toEqual(['cdc.audit']);
  });
});

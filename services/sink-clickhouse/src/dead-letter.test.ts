import { CdcError } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { type DeadLetter, deadLetterMessage } from './dead-letter.ts';

const letter = (value: Buffer | null): DeadLetter => ({
  record: {
    topic: 'shop.public.docs',
    partition: 2,
    offset: '41',
    key: Buffer.from('k'),
    value,
    timestamp: '0',
  },
  table: 'shop_public_docs',
  error: new CdcError('SINK_REJECTED', 'ClickHouse rejected it'),
});

describe('deadLetterMessage', () => {
  it('keeps the key and value of a record that fits, with the reason in headers', () => {
    const m = deadLetterMessage(letter(Buffer.from('small')), 100);
    expect(m.value?.toString()).toBe('small');
    expect(m.key?.toString()).toBe('k');
    expect(m.headers).toMatchObject({
      'cdc.dlq.reason': 'ClickHouse rejected it',
      'cdc.dlq.topic': 'shop.public.docs',
      'cdc.dlq.offset': '41',
    });
    expect(m.headers['cdc.dlq.omitted-bytes']).toBeUndefined();
  });

  it('replaces a value over the topic limit by where it still is', () => {
    const m = deadLetterMessage(letter(Buffer.alloc(500)), 100);
    expect(m.value).toBeNull();
    expect(m.key?.toString()).toBe('k');
    expect(m.headers['cdc.dlq.omitted-bytes']).toBe('500');
    expect(m.headers['cdc.dlq.reason']).toBe(
      'ClickHouse rejected it (the value, 500 bytes, is over what this topic holds, 100: it is still at shop.public.docs partition 2 offset 41)',
    );
  });
});

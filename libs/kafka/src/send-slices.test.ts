import { describe, expect, it } from 'vitest';
import { sendSlices } from './send-slices.ts';

const msg = (bytes: number, key: string | null = null) => ({ key, value: Buffer.alloc(bytes) });

describe('sendSlices', () => {
  it('keeps a small send whole', () => {
    const messages = [msg(10), msg(10), msg(10)];
    expect(sendSlices(messages, 1_000, 100)).toEqual([messages]);
  });

  it('cuts by bytes, in order, and sends a record larger than the limit alone', () => {
    const messages = [
      msg(300, 'a'),
      msg(300, 'b'),
      msg(5_000, 'c'),
      msg(300, 'd'),
      msg(300, 'e'),
      msg(300, 'f'),
    ];
    const slices = sendSlices(messages, 1_000, 1_000);
    expect(slices.map((s) => s.map((m) => m.key))).toEqual([['a', 'b'], ['c'], ['d', 'e', 'f']]);
    expect(slices.flat()).toEqual(messages);
  });

  it('cuts by count', () => {
    const messages = Array.from({ length: 5 }, () => msg(1));
    expect(sendSlices(messages, 2, 1_000).map((s) => s.length)).toEqual([2, 2, 1]);
  });

  it('counts keys and multi-byte text in bytes', () => {
    const messages = [
      { key: 'ключ', value: 'значение' },
      { key: 'k', value: 'x'.repeat(10) },
    ];
    // 8 + 16 bytes of UTF-8 for the first message: the second does not fit in 30 bytes.
    expect(sendSlices(messages, 10, 30).map((s) => s.length)).toEqual([1, 1]);
  });
});

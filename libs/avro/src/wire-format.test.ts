import { isCdcError } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { frame, HEADER_SIZE, unframe } from './wire-format.ts';

function failure(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    if (isCdcError(err)) return err;
    throw err;
  }
  throw new Error('expected a CdcError');
}

describe('Confluent wire format', () => {
  it('frames a body as magic byte 0, the id as 4 bytes big-endian, then the body', () => {
    const bytes = frame(0x01020304, Buffer.from([0xaa, 0xbb]));
    expect([...bytes]).toEqual([0, 1, 2, 3, 4, 0xaa, 0xbb]);
    expect(frame(7, new Uint8Array()).length).toBe(HEADER_SIZE);
  });

  it('unframes what it framed, for ids up to 2^31 - 1', () => {
    for (const id of [0, 1, 255, 256, 65_536, 0x7fffffff]) {
      const { schemaId, payload } = unframe(frame(id, Buffer.from('body')));
      expect(schemaId).toBe(id);
      expect(payload.toString()).toBe('body');
    }
  });

  it('accepts a plain Uint8Array', () => {
    const bytes = new Uint8Array([0, 0, 0, 0, 9, 1, 2]);
    expect(unframe(bytes)).toEqual({ schemaId: 9, payload: Buffer.from([1, 2]) });
  });

  it('refuses to frame an id that does not fit the header', () => {
    expect(failure(() => frame(-1, Buffer.alloc(0))).code).toBe('SERDE_FAILED');
    expect(failure(() => frame(2 ** 31, Buffer.alloc(0))).code).toBe('SERDE_FAILED');
    expect(failure(() => frame(1.5, Buffer.alloc(0))).code).toBe('SERDE_FAILED');
  });

  it('names the record and what was found for JSON text instead of the wire format', () => {
    const err = failure(() =>
      unframe(Buffer.from('{"id":1}'), {
        topic: 'shop.public.orders',
        partition: 2,
        offset: 41n.toString(),
        part: 'value',
      }),
    );
    expect(err.code).toBe('SERDE_FAILED');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain('topic shop.public.orders partition 2 offset 41 (value)');
    expect(err.message).toContain('magic byte 123');
    expect(err.message).toContain('looks like JSON text');
    expect(err.context).toMatchObject({
      topic: 'shop.public.orders',
      partition: 2,
      offset: '41',
      part: 'value',
    });
  });

  it('says so for an empty buffer, a null value and a truncated header', () => {
    expect(failure(() => unframe(Buffer.alloc(0))).message).toContain('found an empty buffer');
    expect(failure(() => unframe(null, { topic: 't' })).message).toContain(
      'topic t is not in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body): found no bytes (null',
    );
    const short = failure(() => unframe(Buffer.from([0, 0, 1])));
    expect(short.message).toContain('only 3 bytes starting 00 00 01, shorter than the 5-byte header');
  });

  it('shows the first bytes of binary that is not framed', () => {
    const err = failure(() => unframe(Buffer.from([0x02, 0xff, 0x10, 0, 0, 0, 0, 0, 1, 2])));
    expect(err.message).toContain('magic byte 2 (10 bytes starting 02 ff 10 00 00 00 00 00 …)');
  });
});

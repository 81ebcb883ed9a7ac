import type { ChangeStreamDocument } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { isSplitUnsupported, Reassembler } from './split-events.ts';

const ev = (o: object) => o as unknown as ChangeStreamDocument;

describe('large change events split into fragments', () => {
  it('puts the fragments back together, with the last fragment’s token', () => {
    const r = new Reassembler();
    expect(
      r.add(
        ev({
          _id: { _data: '01' },
          splitEvent: { fragment: 1, of: 3 },
          operationType: 'update',
          fullDocument: { a: 1 },
        }),
      ),
    ).toBeUndefined();
    expect(r.pending).toBe(true);
    expect(
      r.add(
        ev({ _id: { _data: '02' }, splitEvent: { fragment: 2, of: 3 }, fullDocumentBeforeChange: { a: 0 } }),
      ),
    ).toBeUndefined();
    expect(
      r.add(ev({ _id: { _data: '03' }, splitEvent: { fragment: 3, of: 3 }, documentKey: { _id: 7 } })),
    ).toEqual({
      _id: { _data: '03' },
      operationType: 'update',
      fullDocument: { a: 1 },
      fullDocumentBeforeChange: { a: 0 },
      documentKey: { _id: 7 },
    });
    expect(r.pending).toBe(false);
    const plain = ev({ _id: { _data: '04' }, operationType: 'insert' });
    expect(r.add(plain)).toBe(plain);
  });

  it('refuses a fragment out of order (the stream is read again from the stored token)', () => {
    const r = new Reassembler();
    expect(() => r.add(ev({ _id: { _data: '02' }, splitEvent: { fragment: 2, of: 2 } }))).toThrow(
      /fragment 2 of 2/,
    );
  });

  it('recognises a server without the stage', () => {
    expect(
      isSplitUnsupported({
        code: 40324,
        message: "Unrecognized pipeline stage name: '$changeStreamSplitLargeEvent'",
      }),
    ).toBe(true);
    expect(isSplitUnsupported({ code: 286, message: 'resume point may no longer be in the oplog' })).toBe(
      false,
    );
  });
});

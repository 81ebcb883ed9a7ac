import { isCdcError } from '@cdc/core';
import type { ChangeStreamDocument } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { eventInput } from './change-records.ts';

const update = (fields: Record<string, unknown>) =>
  ({ _id: { _data: '01' }, operationType: 'update', ...fields }) as unknown as ChangeStreamDocument;

describe('eventInput', () => {
  it('keys an update by documentKey and keeps the update description', () => {
    const input = eventInput(
      update({
        documentKey: { _id: 'a' },
        fullDocument: { _id: 'a', v: 2 },
        updateDescription: { updatedFields: { v: 2 }, removedFields: ['w'] },
      }),
      0,
    );
    expect(input).toMatchObject({ op: 'u', keyDocument: { _id: 'a' }, after: { _id: 'a', v: 2 } });
    expect(input.updateDescription).toEqual({
      removedFields: ['w'],
      updatedFields: '{"v":{"$numberInt":"2"}}',
      truncatedArrays: [],
    });
    expect(input.problem).toBeUndefined();
  });

  it('takes the key from the looked-up document when documentKey holds operators (mongo-java-server)', () => {
    const input = eventInput(
      update({ documentKey: { $set: { v: 2 } }, fullDocument: { _id: 'a', v: 2 } }),
      0,
    );
    expect(input.keyDocument).toEqual({ _id: 'a', v: 2 });
    expect(input.problem).toBeUndefined();
  });

  it('names the problem when neither has an _id, or the document was gone at lookup', () => {
    const noKey = eventInput(update({ documentKey: { $set: { v: 2 } }, fullDocument: { v: 2 } }), 0);
    expect(isCdcError(noKey.problem, 'SOURCE_UNSUPPORTED')).toBe(true);
    const gone = eventInput(update({ documentKey: { _id: 'a' }, fullDocument: null }), 0);
    expect(isCdcError(gone.problem, 'POISON_RECORD')).toBe(true);
    expect(gone.problem?.message).toMatch(/gone when the server looked it up/);
  });
});

import { BSON } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { classOf, idsAfter, idText, parseId } from './id-order.ts';

const { Binary, Decimal128, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } = BSON;

describe('the _id order across BSON types', () => {
  it('ranks the type classes as the server sorts them', () => {
    const inOrder = [
      new MinKey(),
      null,
      [1, new Int32(2), new Long(3), Decimal128.fromString('4.5')],
      'text',
      { a: 1 },
      new Binary(Buffer.from([1])),
      new ObjectId(),
      true,
      new Date(0),
      new Timestamp({ t: 1, i: 1 }),
      /x/,
      new MaxKey(),
    ];
    const classes = inOrder.map((v, i) => (i === 2 ? (v as unknown[]).map(classOf) : [classOf(v)]));
    expect(classes.flat()).toEqual([0, 1, 2, 2, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('reads on within the class of the last _id, then every class after it', () => {
    expect(idsAfter('m')).toEqual({
      $or: [
        { _id: { $gt: 'm' } },
        { _id: { $type: ['object', 'binData', 'objectId', 'bool', 'date', 'timestamp', 'regex', 'maxKey'] } },
      ],
    });
    expect(idsAfter(new MaxKey())).toEqual({ _id: { $gt: new MaxKey() } });
  });

  it('keeps the type of an _id through its text (an Int32 stays an Int32, not a double)', () => {
    const back = parseId(idText(new Int32(7)));
    expect(back).toBeInstanceOf(Int32);
    expect(parseId(idText('7'))).toBe('7');
  });
});

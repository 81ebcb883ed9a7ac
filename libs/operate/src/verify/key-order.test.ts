import { describe, expect, it } from 'vitest';
import { bucketTree } from './clickhouse-side.ts';
import {
  bucketOf,
  compareHex,
  decodeKey,
  encodeKey,
  type KeyColumn,
  leadingBounds,
  subRanges,
} from './key-order.ts';

const col = (kind: KeyColumn['kind'], name: string = kind): KeyColumn => ({ name, kind, chName: name });

/** Tuple order with text compared by UTF-8 bytes (what COLLATE "C" and ClickHouse do). */
function tupleOrder(kinds: KeyColumn['kind'][], a: string[], b: string[]): number {
  for (let i = 0; i < kinds.length; i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    let c: number;
    if (kinds[i] === 'int') c = BigInt(x) < BigInt(y) ? -1 : BigInt(x) > BigInt(y) ? 1 : 0;
    else c = Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));
    if (c !== 0) return c;
  }
  return 0;
}

describe('key encoding', () => {
  it('orders integers by value across the sign, at every width', () => {
    const values = ['-9223372036854775808', '-70000', '-1', '0', '1', '255', '256', '9223372036854775807'];
    const enc = values.map((v) => encodeKey([col('int')], [v]));
    expect([...enc].sort(compareHex)).toEqual(enc);
    expect(encodeKey([col('int')], ['0'])).toBe('8000000000000000');
    expect(encodeKey([col('int')], ['-1'])).toBe('7fffffffffffffff');
  });

  it('orders text by its UTF-8 bytes, a prefix first, whatever a collation would say', () => {
    // en_US would put 'a' before 'B' and ignore the hyphen; byte order does neither.
    const values = ['', 'B', 'a', 'a-b', 'ab', 'abc', 'é', '日本'];
    const enc = values.map((v) => encodeKey([col('text')], [v]));
    expect([...enc].sort(compareHex)).toEqual(enc);
  });

  it('orders uuids as their lower-case text does, upper-case input included', () => {
    const a = encodeKey([col('uuid')], ['00000000-0000-4000-8000-00000000000A']);
    const b = encodeKey([col('uuid')], ['00000000-0000-4000-8000-00000000000b']);
    expect(a).toBe('0000000000004000800000000000000a');
    expect(compareHex(a, b)).toBe(-1);
    expect(() => encodeKey([col('uuid')], ['not-a-uuid'])).toThrow(/not a uuid/);
  });

  it('orders composite keys column by column: the byte order of the encoding is the tuple order', () => {
    const kinds: KeyColumn['kind'][] = ['text', 'int', 'uuid'];
    const cols = kinds.map((k, i) => col(k, `c${i}`));
    const keys: string[][] = [];
    for (const t of ['', 'a', 'a\u0001', 'ab', 'b'])
      for (const n of ['-5', '0', '3', '1000'])
        for (const u of ['00000000-0000-0000-0000-000000000001', 'ffffffff-0000-0000-0000-000000000000'])
          keys.push([t, n, u]);
    const shuffled = [...keys].sort(() => Math.random() - 0.5);
    const byEncoding = [...shuffled].sort((x, y) => compareHex(encodeKey(cols, x), encodeKey(cols, y)));
    const byTuple = [...shuffled].sort((x, y) => tupleOrder(kinds, x, y));
    expect(byEncoding).toEqual(byTuple);
  });

  it('decodes what it encodes', () => {
    const cols = [col('text', 'a'), col('int', 'b'), col('uuid', 'c'), col('text', 'd')];
    const key = ['naïve é', '-42', '12345678-9abc-4def-8123-456789abcdef', ''];
    expect(decodeKey(cols, encodeKey(cols, key))).toEqual(key);
    expect(() => encodeKey(cols, ['x'])).toThrow(/4 column\(s\) got 1/);
  });
});

describe('ranges of encoded keys', () => {
  it('cuts a range at split points into half-open buckets that cover it', () => {
    expect(subRanges({ lo: null, hi: null }, ['10', '20'])).toEqual([
      { lo: null, hi: '10' },
      { lo: '10', hi: '20' },
      { lo: '20', hi: null },
    ]);
    expect(subRanges({ lo: '05', hi: '30' }, [])).toEqual([{ lo: '05', hi: '30' }]);
  });

  it('puts a key in the bucket of the split points at or below it (as width_bucket and arrayCount do)', () => {
    const splits = ['10', '20', '30'];
    expect(bucketOf(splits, '01')).toBe(0);
    expect(bucketOf(splits, '10')).toBe(1);
    expect(bucketOf(splits, '1f')).toBe(1);
    expect(bucketOf(splits, '20')).toBe(2);
    expect(bucketOf(splits, 'ff')).toBe(3);
    expect(bucketOf([], 'ff')).toBe(0);
  });

  it('gives the first column’s bounds only where the database orders that column as the encoding', () => {
    const u = [col('uuid'), col('int')];
    const lo = encodeKey(u, ['00000000-0000-4000-8000-000000000001', '5']);
    const hi = encodeKey(u, ['00000000-0000-4000-8000-000000000009', '1']);
    expect(leadingBounds(u, { lo, hi })).toEqual({
      lo: '00000000-0000-4000-8000-000000000001',
      hi: '00000000-0000-4000-8000-000000000009',
    });
    const t = [col('text'), col('int')];
    const range = { lo: encodeKey(t, ['apple', '1']), hi: null };
    // PostgreSQL's text order is the collation's: no bounds there; ClickHouse's is the bytes'.
    expect(leadingBounds(t, range)).toEqual({ lo: null, hi: null });
    expect(leadingBounds(t, range, true)).toEqual({ lo: 'apple', hi: null });
  });

  it('buckets in ClickHouse by a binary tree of comparisons that counts the split points ≤ the key', () => {
    const splits = ['10', '20', '30', '40', '50', '60', '70'];
    const tree = bucketTree(
      splits.map((x) => JSON.stringify(x)),
      'k',
    );
    expect(tree.match(/if\(/g)).toHaveLength(splits.length);
    const run = new Function(
      'k',
      `const _if = (c, a, b) => (c ? a : b); return ${tree.replaceAll('if(', '_if(')};`,
    );
    for (const k of ['00', '10', '15', '20', '69', '70', 'ff']) expect(run(k)).toBe(bucketOf(splits, k));
    expect(bucketTree([], 'k')).toBe('0');
  });
});

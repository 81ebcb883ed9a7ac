import { describe, expect, it } from 'vitest';
import { bigintToTwosComplement, twosComplementToBigint } from './numeric.ts';

/** The encoding by hex string, for every size (the reference for the fast path). */
function reference(n: bigint): Buffer {
  let bytes = 1;
  while (n < -(1n << BigInt(8 * bytes - 1)) || n >= 1n << BigInt(8 * bytes - 1)) bytes++;
  const unsigned = n < 0n ? (1n << BigInt(8 * bytes)) + n : n;
  return Buffer.from(unsigned.toString(16).padStart(2 * bytes, '0'), 'hex');
}

describe("decimal two's complement", () => {
  it('encodes as few bytes as hold the sign, at every byte boundary and beyond 6 bytes', () => {
    const values: bigint[] = [0n, 1n, -1n, 12_345n, -9_999_999n, 10n ** 30n, -(10n ** 30n)];
    for (let bits = 1n; bits <= 80n; bits++)
      for (const d of [-1n, 0n, 1n]) values.push((1n << bits) + d, -(1n << bits) + d);
    for (const n of values) {
      const buf = bigintToTwosComplement(n);
      expect(buf.equals(reference(n)), String(n)).toBe(true);
      expect(twosComplementToBigint(buf)).toBe(n);
    }
  });
});

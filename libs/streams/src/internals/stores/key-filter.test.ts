import { describe, expect, it } from 'vitest';
import { KeyFilter } from './key-filter.ts';

const key = (i: number) => `["order-${i}"]`;

describe('KeyFilter', () => {
  it('never says absent for a key it was given, across the stages it grows into', () => {
    const f = new KeyFilter();
    for (let i = 0; i < 300_000; i++) f.addLatin1(key(i));
    expect(f.size).toBe(300_000);
    let missing = 0;
    for (let i = 0; i < 300_000; i++) if (!f.mightHaveLatin1(key(i))) missing++;
    expect(missing).toBe(0);
  });

  it('says absent for nearly every key it was not given', () => {
    const f = new KeyFilter();
    for (let i = 0; i < 300_000; i++) f.addLatin1(key(i));
    let maybe = 0;
    for (let i = 300_000; i < 400_000; i++) if (f.mightHaveLatin1(key(i))) maybe++;
    // About 1 % per stage, and 300,000 keys make three stages.
    expect(maybe / 100_000).toBeLessThan(0.05);
  });

  it('hashes a key alike from its bytes and from its latin1 text', () => {
    const f = new KeyFilter();
    const bytes = Buffer.from('["é€ \u0000 x"]', 'utf8');
    f.addBytes(bytes);
    expect(f.mightHaveLatin1(bytes.toString('latin1'))).toBe(true);
    expect(f.mightHaveLatin1(Buffer.from('["other"]').toString('latin1'))).toBe(false);
  });
});

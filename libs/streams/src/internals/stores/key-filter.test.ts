import { describe, expect, it } from 'vitest';
import { KeyFilter } from './key-filter.ts';

const key = (i: number) => Buffer.from(`["order-${i}"]`);

describe('KeyFilter', () => {
  it('never says absent for a key it was given, across the stages it grows into', () => {
    const f = new KeyFilter();
    for (let i = 0; i < 300_000; i++) f.addBytes(key(i));
    // A key taken for one already in (a false "maybe") is not counted: about 1 in 100 at most.
    expect(f.size).toBeGreaterThan(297_000);
    expect(f.size).toBeLessThanOrEqual(300_000);
    let missing = 0;
    for (let i = 0; i < 300_000; i++) if (!f.mightHaveBytes(key(i))) missing++;
    expect(missing).toBe(0);
  });

  it('says absent for nearly every key it was not given', () => {
    const f = new KeyFilter();
    for (let i = 0; i < 300_000; i++) f.addBytes(key(i));
    let maybe = 0;
    for (let i = 300_000; i < 400_000; i++) if (f.mightHaveBytes(key(i))) maybe++;
    // About 1 % per stage, and 300,000 keys make three stages.
    expect(maybe / 100_000).toBeLessThan(0.05);
  });

  it('counts a key added twice once', () => {
    const f = new KeyFilter();
    f.addBytes(key(1));
    f.addBytes(key(1));
    expect(f.size).toBe(1);
  });
});

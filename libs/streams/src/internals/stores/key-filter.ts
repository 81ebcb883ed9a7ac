/**
 * A Bloom filter over byte keys, which answers "certainly absent" or "maybe present" and grows
 * with what is added: a new stage, twice the size of the last, once the last holds what it was
 * sized for (a scalable Bloom filter), so that it never has to see its keys again. About 10 bits
 * per key and 7 probes per stage: roughly one false "maybe" in a hundred per stage.
 */
const BITS_PER_KEY = 10;
const PROBES = 7;
const FIRST_CAPACITY = 1 << 16;

interface Stage {
  bits: Int32Array;
  /** Bit count − 1 (a power of two). */
  mask: number;
  capacity: number;
  count: number;
}

function stage(capacity: number): Stage {
  let bits = 1 << 10;
  while (bits < capacity * BITS_PER_KEY) bits *= 2;
  return { bits: new Int32Array(bits >>> 5), mask: bits - 1, capacity, count: 0 };
}

/** FNV-1a over the key's bytes. */
function hash(key: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ (key[i] as number), 0x01000193);
  return h;
}

/** The second hash for double hashing, mixed from the first (murmur3's finalizer); odd. */
function second(h: number): number {
  let x = h ^ 0x9e3779b9;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 1;
}

export class KeyFilter {
  private readonly stages: Stage[] = [stage(FIRST_CAPACITY)];

  /** Distinct keys added (a key taken for one already added, about 1 in 100, is not counted). */
  get size(): number {
    let n = 0;
    for (const s of this.stages) n += s.count;
    return n;
  }

  addBytes(key: Uint8Array): void {
    this.add(hash(key));
  }

  /** False: the key was never added. True: it may have been. */
  mightHaveBytes(key: Uint8Array): boolean {
    return this.has(hash(key));
  }

  private has(h: number): boolean {
    const h2 = second(h);
    for (const s of this.stages) if (inStage(s, h, h2)) return true;
    return false;
  }

  /** A key that may be in already is not added again: the stages count distinct keys (about). */
  private add(h: number): void {
    if (this.has(h)) return;
    let last = this.stages[this.stages.length - 1] as Stage;
    if (last.count >= last.capacity) {
      last = stage(last.capacity * 2);
      this.stages.push(last);
    }
    const h2 = second(h);
    for (let i = 0; i < PROBES; i++) {
      const bit = (h + Math.imul(i, h2)) & last.mask;
      const word = bit >>> 5;
      last.bits[word] = (last.bits[word] as number) | (1 << (bit & 31));
    }
    last.count += 1;
  }
}

function inStage(s: Stage, h: number, h2: number): boolean {
  for (let i = 0; i < PROBES; i++) {
    const bit = (h + Math.imul(i, h2)) & s.mask;
    if (((s.bits[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
  }
  return true;
}

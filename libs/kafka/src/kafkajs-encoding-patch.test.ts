import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// patches/kafkajs+2.2.4.patch rewrites kafkajs' per-record produce encoding (one exact-size
// buffer per record), its CRC-32C (slicing-by-8) and its murmur2 key hash (Math.imul instead
// of Long objects). What reaches the broker must not change by one byte, and a keyed record
// must land on the same partition as before and as the Java client puts it.
const require = createRequire(import.meta.url);

interface EncoderLike {
  buffer: Buffer;
  offset: number;
  writeVarInt(v: number): EncoderLike;
  writeInt8(v: number): EncoderLike;
  writeVarLong(v: number): EncoderLike;
  writeVarIntBytes(v: Buffer | string | null): EncoderLike;
  writeVarIntString(v: string): EncoderLike;
  writeVarIntArray(v: EncoderLike[]): EncoderLike;
}
const Encoder = require('kafkajs/src/protocol/encoder.js') as {
  new (size?: number): EncoderLike;
  sizeOfVarLong(v: number): number;
  sizeOfVarInt(v: number): number;
  sizeOfVarIntBytes(v: Buffer | string | null): number;
};
type Headers = Record<string, string | Buffer | (string | Buffer)[]>;
interface RecordArgs {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Headers;
}
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (
  a: RecordArgs,
) => EncoderLike;
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;
const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  k: Buffer | string,
) => number;
const createPartitioner = require('kafkajs/src/producer/partitioners/default/index.js') as () => (a: {
  topic: string;
  partitionMetadata: { partitionId: number; leader: number }[];
  message: { key?: Buffer | string | null; partition?: number };
}) => number;

/** The record as kafkajs 2.2.4 encodes it, built with kafkajs' own (unpatched) Encoder. */
function publishedRecord({ offsetDelta, timestampDelta, key, value, headers = {} }: RecordArgs): Buffer {
  const list = Object.keys(headers).flatMap((k) => {
    const v = headers[k] as string | Buffer | (string | Buffer)[];
    return Array.isArray(v) ? v.map((x) => ({ key: k, value: x })) : [{ key: k, value: v }];
  });
  let headersSize = Encoder.sizeOfVarInt(list.length);
  for (const h of list) {
    const ks = Buffer.byteLength(h.key);
    const vs = Buffer.byteLength(h.value);
    headersSize += Encoder.sizeOfVarInt(ks) + ks + Encoder.sizeOfVarInt(vs) + vs;
  }
  const size =
    1 +
    Encoder.sizeOfVarLong(timestampDelta) +
    Encoder.sizeOfVarInt(offsetDelta) +
    Encoder.sizeOfVarIntBytes(key) +
    Encoder.sizeOfVarIntBytes(value) +
    headersSize;
  return new Encoder()
    .writeVarInt(size)
    .writeInt8(0)
    .writeVarLong(timestampDelta)
    .writeVarInt(offsetDelta)
    .writeVarIntBytes(key)
    .writeVarIntBytes(value)
    .writeVarIntArray(list.map((h) => new Encoder().writeVarIntString(h.key).writeVarIntBytes(h.value)))
    .buffer;
}

/** Deterministic bytes (no randomness: a failure must reproduce). */
const bytes = (n: number, seed: number) => {
  const out = Buffer.alloc(n);
  let block = Buffer.alloc(0);
  for (let i = 0; i < n; i++) {
    if (i % 32 === 0) block = createHash('sha256').update(`${seed}:${i}`).digest();
    out[i] = block[i % 32] as number;
  }
  return out;
};

describe('kafkajs produce encoding (patched)', () => {
  it('is the patched, allocation-lean version', () => {
    expect(Record.toString()).toContain('allocUnsafe');
    expect(murmur2.toString()).toContain('Math.imul');
  });

  it('encodes every record byte for byte as the published kafkajs does', () => {
    const timestamps = [0, 1, -3, 300, 2 ** 31 + 7, -(2 ** 40), 1_733_000_000_000];
    for (let n = 0; n < 3_000; n++) {
      const args: RecordArgs = {
        offsetDelta: (n * 37) % 70_000,
        timestampDelta: timestamps[n % timestamps.length] as number,
        key: n % 7 === 0 ? null : n % 3 === 0 ? `clé-${n}` : bytes(n % 40, n),
        value: n % 11 === 0 ? null : n % 5 === 0 ? `valeur ${n} ✓` : bytes((n * 13) % 2_000, -n),
        ...(n % 4 === 0
          ? {}
          : {
              headers:
                n % 4 === 1
                  ? {}
                  : { traceparent: `00-${n}-01`, multi: ['a', 'bé'], raw: bytes(n % 9, n + 1) },
            }),
      };
      expect(Record(args).buffer.equals(publishedRecord(args)), `record ${n}`).toBe(true);
    }
  });

  it('computes CRC-32C (Castagnoli) as the broker checks it', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32C(Buffer.alloc(0))).toBe(0);
    // Every tail length around the 8-byte steps, against a bit-by-bit reference.
    const reference = (b: Buffer) => {
      let crc = ~0;
      for (const byte of b) {
        crc ^= byte;
        for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
      }
      return ~crc >>> 0;
    };
    for (let n = 0; n < 70; n++) {
      const b = bytes(n * 7, n);
      expect(crc32C(b), `length ${b.length}`).toBe(reference(b));
    }
  });

  it("hashes keys with the Java client's murmur2, so keys keep their partitions", () => {
    // Values from the Java client's Utils.murmur2.
    const java: Record<string, number> = {
      '0': 971027396,
      '1': -1993445489,
      '128': -326012175,
      '2187': -1508407203,
      '16384': -325739742,
      kafka: -798503068,
    };
    for (const [key, hash] of Object.entries(java)) expect(murmur2(key), key).toBe(hash);
    // And equal to a BigInt transcription of the Java code for keys of every tail length.
    const M = 0x5bd1e995n;
    const int = (x: bigint) => BigInt.asIntN(32, x);
    const ushr = (x: bigint, s: bigint) => BigInt.asUintN(32, x) >> s;
    const javaMurmur2 = (data: Buffer) => {
      let h = int(0x9747b28cn ^ BigInt(data.length));
      const l4 = data.length >> 2;
      for (let i = 0; i < l4; i++) {
        let k = int(BigInt(data.readInt32LE(i * 4)));
        k = int(k * M);
        k = int(k ^ ushr(k, 24n));
        k = int(k * M);
        h = int(h * M);
        h = int(h ^ k);
      }
      const tail = data.length & ~3;
      const rest = data.length % 4;
      if (rest >= 3) h = int(h ^ (BigInt(data[tail + 2] as number) << 16n));
      if (rest >= 2) h = int(h ^ (BigInt(data[tail + 1] as number) << 8n));
      if (rest >= 1) h = int(int(h ^ BigInt(data[tail] as number)) * M);
      h = int(h ^ ushr(h, 13n));
      h = int(h * M);
      h = int(h ^ ushr(h, 15n));
      return Number(h);
    };
    for (let n = 0; n < 500; n++) {
      const key = bytes(n % 41, n);
      expect(murmur2(key), `key ${key.toString('hex')}`).toBe(javaMurmur2(key));
    }
    const partitioner = createPartitioner();
    const partitionMetadata = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 1 }));
    expect(partitioner({ topic: 't', partitionMetadata, message: { key: 'kafka' } })).toBe(
      (-798503068 & 0x7fffffff) % 6,
    );
    expect(partitioner({ topic: 't', partitionMetadata, message: { key: 'x', partition: 4 } })).toBe(4);
  });
});

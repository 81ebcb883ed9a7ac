import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// patches/kafkajs+2.2.4.patch speeds up kafkajs' per-record fetch decoding: offsets and
// timestamps as numbers where exact (the published version parsed the batch's first offset and
// timestamp into Long objects for every record), headers gathered without an object spread per
// header, and a batch cut short at a fetch's tail skipped without building an error. What a
// consumer gets must not change: checked here against BigInt arithmetic, beyond 2^53 too.
const require = createRequire(import.meta.url);

interface EncoderLike {
  buffer: Buffer;
}
interface DecoderLike {
  buffer: Buffer;
  offset: number;
}
type Headers = Record<string, string | Buffer | (string | Buffer)[]>;
interface RecordArgs {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Headers;
}
interface Decoded {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
}
const Encoder = require('kafkajs/src/protocol/encoder.js') as new (
  size?: number,
) => EncoderLike & { writeInt32(v: number): EncoderLike & { writeBuffer(b: Buffer): EncoderLike } };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => DecoderLike;
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (
  a: RecordArgs,
) => EncoderLike;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (a: {
    firstOffset: string;
    firstTimestamp: string | number;
    maxTimestamp: string | number;
    lastOffsetDelta: number;
    records: EncoderLike[];
  }) => Promise<EncoderLike>;
};
const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (
  d: DecoderLike,
) => Promise<Decoded[]>;

/** One record batch's bytes as the broker returns them (offset, length, then the batch). */
async function batch(firstOffset: bigint, firstTimestamp: bigint, records: RecordArgs[]): Promise<Buffer> {
  const encoded = await RecordBatch({
    firstOffset: firstOffset.toString(),
    firstTimestamp: firstTimestamp.toString(),
    maxTimestamp: firstTimestamp.toString(),
    lastOffsetDelta: records.length - 1,
    records: records.map(Record),
  });
  return encoded.buffer;
}

/** A partition's record set in a fetch response: its size, then the batches. */
const recordSet = (batches: Buffer[]) => {
  const body = Buffer.concat(batches);
  return new Encoder().writeInt32(body.length).writeBuffer(body).buffer;
};

const text = (b: Buffer | null) => b?.toString('utf8') ?? null;

describe('kafkajs fetch decoding (patched)', () => {
  it('gives each record its offset and timestamp, exact beyond 2^53 and for any delta', async () => {
    const now = 1_764_800_000_123n;
    const deltas = [0, 1, -1, 63, -64, 8191, -8192, 2 ** 40, -(2 ** 40), 2 ** 48 + 7, -(2 ** 48) - 9];
    const cases: [bigint, bigint][] = [
      [0n, now],
      [123_456_789n, now],
      [2n ** 53n - 3n, now], // offsets cross 2^53 within the batch
      [2n ** 62n, 2n ** 60n], // neither exact as a number
    ];
    for (const [firstOffset, firstTimestamp] of cases) {
      const args = deltas.map((d, i) => ({
        offsetDelta: i,
        // Some deltas take more than 7 bytes as a varlong (2^48 and beyond): the Long path.
        timestampDelta: d,
        key: `k${i}`,
        value: `v${i}`,
      }));
      const got = await decodeMessages(
        new Decoder(recordSet([await batch(firstOffset, firstTimestamp, args)])),
      );
      expect(got.map((r) => [r.offset, r.timestamp, text(r.key), text(r.value)])).toEqual(
        deltas.map((d, i) => [
          (firstOffset + BigInt(i)).toString(),
          (firstTimestamp + BigInt(d)).toString(),
          `k${i}`,
          `v${i}`,
        ]),
      );
    }
  });

  it('gathers headers as before: one value, or every value of a repeated key in order', async () => {
    const [r] = await decodeMessages(
      new Decoder(
        recordSet([
          await batch(5n, 1_000n, [
            {
              offsetDelta: 0,
              timestampDelta: 0,
              key: null,
              value: 'x',
              headers: { traceparent: 'tp', tag: ['a', 'b', 'c'], empty: '' },
            },
          ]),
        ]),
      ),
    );
    if (r === undefined) throw new Error('no record decoded');
    expect(r.key).toBeNull();
    expect(Object.keys(r.headers)).toEqual(['traceparent', 'tag', 'empty']);
    expect(text(r.headers.traceparent as Buffer)).toBe('tp');
    expect((r.headers.tag as Buffer[]).map(text)).toEqual(['a', 'b', 'c']);
    expect(text(r.headers.empty as Buffer)).toBe('');
  });

  it('returns the whole batches of a record set whose last batch maxBytes cut short', async () => {
    const one = await batch(0n, 1_000n, [{ offsetDelta: 0, timestampDelta: 0, key: 'a', value: 'first' }]);
    const two = await batch(1n, 1_000n, [
      { offsetDelta: 0, timestampDelta: 0, key: 'b', value: 'second' },
      { offsetDelta: 1, timestampDelta: 3, key: 'c', value: 'third' },
    ]);
    // Every cut of the second batch: past its header (the length is readable), and inside it.
    for (const cut of [60, two.length - 1, 20]) {
      const got = await decodeMessages(new Decoder(recordSet([one, two.subarray(0, cut)])));
      expect(got.map((r) => text(r.value))).toEqual(['first']);
    }
    const whole = await decodeMessages(new Decoder(recordSet([one, two])));
    expect(whole.map((r) => [r.offset, text(r.value)])).toEqual([
      ['0', 'first'],
      ['1', 'second'],
      ['2', 'third'],
    ]);
  });
});

// The patch also decodes each record where it lies in the fetched bytes (the published version
// made a slice and a Decoder of its own per record), and a Batch keeps the decoded records as
// they are when none is before the fetched offset and none is a control record (it filtered them
// twice, parsing every offset into a Long).
const Batch = require('kafkajs/src/consumer/batch.js') as new (
  topic: string,
  fetchedOffset: string,
  partitionData: {
    partition: number;
    highWatermark: string;
    messages: { offset: string; isControlRecord?: boolean }[];
    abortedTransactions?: unknown[];
  },
) => { messages: { offset: string }[] };

/** A record's bytes with `extra` zero bytes after its fields, inside its declared length. */
function padded(args: RecordArgs, extra: number): EncoderLike {
  const encoded = Record(args).buffer;
  const d = new Decoder(encoded) as DecoderLike & { readVarInt(): number };
  const length = d.readVarInt();
  const body = Buffer.concat([encoded.subarray(d.offset, d.offset + length), Buffer.alloc(extra)]);
  const out = new Encoder() as unknown as EncoderLike & {
    writeVarInt(v: number): EncoderLike & { writeBuffer(b: Buffer): EncoderLike };
  };
  return out.writeVarInt(body.length).writeBuffer(body);
}

describe('kafkajs records decoded in place (patched)', () => {
  it('reads a record only within its length: bytes after its fields are skipped, and the next record is read whole', async () => {
    const encoded = await RecordBatch({
      firstOffset: '40',
      firstTimestamp: '1000',
      maxTimestamp: '1000',
      lastOffsetDelta: 2,
      records: [
        padded({ offsetDelta: 0, timestampDelta: 0, key: 'a', value: 'first', headers: { h: 'x' } }, 5),
        Record({ offsetDelta: 1, timestampDelta: 1, key: 'b', value: 'second' }),
        padded({ offsetDelta: 2, timestampDelta: 2, key: null, value: 'third' }, 1),
      ],
    });
    const got = await decodeMessages(new Decoder(recordSet([encoded.buffer])));
    expect(got.map((r) => [r.offset, r.timestamp, text(r.key), text(r.value)])).toEqual([
      ['40', '1000', 'a', 'first'],
      ['41', '1001', 'b', 'second'],
      ['42', '1002', null, 'third'],
    ]);
    expect(text(got[0]!.headers.h as Buffer)).toBe('x');
  });

  it('drops the records before the fetched offset and control records, and keeps the others in order', () => {
    const data = (messages: { offset: string; isControlRecord?: boolean }[]) => ({
      partition: 0,
      highWatermark: '100',
      messages,
    });
    const offsets = (b: { messages: { offset: string }[] }) => b.messages.map((m) => m.offset);
    const plain = [{ offset: '7' }, { offset: '8' }, { offset: '9' }];
    const all = new Batch('t', '7', data(plain));
    expect(offsets(all)).toEqual(['7', '8', '9']);
    expect(all.messages).toBe(plain); // nothing to drop: no copy
    // A compressed batch starts before the fetched offset: its first records go.
    expect(offsets(new Batch('t', '9', data(plain)))).toEqual(['9']);
    expect(offsets(new Batch('t', '10', data(plain)))).toEqual([]);
    expect(
      offsets(
        new Batch('t', '8', data([...plain, { offset: '10', isControlRecord: true }, { offset: '11' }])),
      ),
    ).toEqual(['8', '9', '11']);
    // Offsets past 2^53 compare exactly (as Longs).
    const big = [{ offset: '9007199254740993' }, { offset: '9007199254740994' }];
    expect(offsets(new Batch('t', '9007199254740994', data(big)))).toEqual(['9007199254740994']);
  });
});

import { CdcError } from '@cdc/core';

/**
 * Turns values into bytes and back, per topic (the topic lets a schema-registry serde pick its
 * subject). `null` stays `null` on both sides: it is a tombstone, never an encoded value.
 *
 * Both directions are synchronous, so that the hot path makes no promise per record. A serde
 * that must fetch something before it can read some bytes (an Avro serde meeting a schema id it
 * has not seen) implements `prepare`: the runtime calls it before every `deserialize` and awaits
 * it only when it returns a promise.
 */
export interface Serde<T> {
  serialize(topic: string, value: T | null): Buffer | null;
  deserialize(topic: string, data: Buffer | null): T | null;
  /**
   * `undefined` when `deserialize(topic, data)` can run now; otherwise a promise that settles
   * once it can. A rejection with a retriable error (the registry is down) stops the task
   * whatever the error policy says, since skipping would lose records that are readable; any
   * other rejection is a deserialization failure of that record, for the error policy.
   */
  prepare?(topic: string, data: Buffer | null): Promise<void> | undefined;
}

function serdeError(what: string, topic: string, cause: unknown): CdcError {
  return new CdcError(
    'SERDE_FAILED',
    `${what} failed for topic ${topic}: ${(cause as Error)?.message ?? cause}`,
    {
      context: { topic },
      cause,
    },
  );
}

const stringSerde: Serde<string> = {
  serialize: (_topic, value) => (value === null ? null : Buffer.from(value, 'utf8')),
  deserialize: (_topic, data) => (data === null ? null : data.toString('utf8')),
};

const bufferSerde: Serde<Buffer> = {
  serialize: (_topic, value) => value,
  deserialize: (_topic, data) => data,
};

const bigintAsText = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

/**
 * `JSON.stringify`, with a `bigint` written as its decimal text. A replacer function takes V8 off
 * its fast path for every value (it made JSON the largest serde cost of the processor), so it is
 * used only for a value that holds a `bigint`, which plain `JSON.stringify` refuses with a TypeError.
 */
function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (err instanceof TypeError && /BigInt/i.test(err.message)) return JSON.stringify(value, bigintAsText);
    throw err;
  }
}

/** JSON text; `bigint` is written as a decimal string. */
function jsonSerde<T>(): Serde<T> {
  return {
    serialize(topic, value) {
      if (value === null) return null;
      try {
        return Buffer.from(stringifyJson(value), 'utf8');
      } catch (err) {
        throw serdeError('JSON serialization', topic, err);
      }
    },
    deserialize(topic, data) {
      if (data === null) return null;
      try {
        return JSON.parse(data.toString('utf8')) as T;
      } catch (err) {
        throw serdeError('JSON deserialization', topic, err);
      }
    },
  };
}

/** A 64-bit float, 8 bytes big-endian (counts and sums). */
const numberSerde: Serde<number> = {
  serialize: (_topic, value) => {
    if (value === null) return null;
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(value);
    return b;
  },
  deserialize: (topic, data) => {
    if (data === null) return null;
    if (data.length !== 8)
      throw serdeError('number deserialization', topic, new Error(`expected 8 bytes, got ${data.length}`));
    return data.readDoubleBE(0);
  },
};

/** The built-in serdes. Avro ones (schema registry, Confluent wire format): `avroSerde`, `avroSerdes`. */
export const Serdes = {
  string: (): Serde<string> => stringSerde,
  buffer: (): Serde<Buffer> => bufferSerde,
  json: <T = unknown>(): Serde<T> => jsonSerde<T>(),
  number: (): Serde<number> => numberSerde,
} as const;

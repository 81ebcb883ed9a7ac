/**
 * The parts of the Avro serde that need no registry: tombstones, bytes that are not in the wire
 * format, a read-only serde refusing to write, and the `prepare` contract the runtime relies on
 * (a serde that needs a fetch is awaited before `deserialize`; a retriable failure stops the
 * task whatever the policy, any other goes to the deserialization policy). Everything that
 * talks to the registry is in test/integration/avro-serdes.test.ts.
 */
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { CdcError, isCdcError } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { ErrorPolicies } from '../error-handlers.ts';
import { type Serde, Serdes } from '../serde.ts';
import { StreamsBuilder } from '../streams-builder.ts';
import { TopologyTestDriver } from '../testing/topology-test-driver.ts';
import { avroSerde } from './avro-serde.ts';

/** A client no request ever reaches: a read-only serde makes none until it meets a schema id. */
const unreachable = () =>
  new AvroSerde({ registry: new RegistryClient({ url: 'http://127.0.0.1:9', retries: 0 }) });

describe('avroSerde without a registry round trip', () => {
  it('keeps tombstones as null and needs no preparation for them', async () => {
    const serde = await avroSerde<unknown>(unreachable(), { subject: 's-value' });
    expect(serde.serialize('t', null)).toBeNull();
    expect(serde.prepare?.('t', null)).toBeUndefined();
    expect(serde.deserialize('t', null)).toBeNull();
  });

  it('explains bytes that are not in the wire format, naming the topic', async () => {
    const serde = await avroSerde<unknown>(unreachable(), { subject: 's-value' });
    const json = Buffer.from('{"id":1}');
    expect(serde.prepare?.('shop.orders', json)).toBeUndefined();
    const err = (() => {
      try {
        serde.deserialize('shop.orders', json);
      } catch (e) {
        return e;
      }
    })();
    expect(isCdcError(err, 'SERDE_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(
      /topic shop\.orders .*not in the Confluent wire format.*looks like JSON/,
    );
  });

  it('refuses to write without a schema, saying how to fix it', async () => {
    const serde = await avroSerde<{ id: number }>(unreachable(), { subject: 's-value' });
    expect(() => serde.serialize('out', { id: 1 })).toThrow(
      /without a schema, so it only reads; pass \{ schema \}/,
    );
  });

  it('reports an unreachable registry as retriable when it must fetch a writer schema', async () => {
    const serde = await avroSerde<unknown>(unreachable(), { subject: 's-value' });
    const framed = Buffer.from([0, 0, 0, 0, 42, 2]);
    const err = await serde.prepare?.('t', framed)?.catch((e: unknown) => e);
    expect(isCdcError(err, 'SCHEMA_REGISTRY_UNAVAILABLE')).toBe(true);
    expect((err as CdcError).retriable).toBe(true);
  });
});

/** A string serde that must "load" each value's first letter before it can read the value. */
function lazySerde(fail: (letter: string) => Error | undefined): Serde<string> & { loaded: Set<string> } {
  const S = Serdes.string();
  const loaded = new Set<string>();
  return {
    loaded,
    serialize: S.serialize,
    prepare(_topic, data) {
      const letter = data?.toString('utf8', 0, 1) ?? '';
      if (data === null || loaded.has(letter)) return undefined;
      return new Promise<void>((resolve, reject) =>
        setTimeout(() => {
          const err = fail(letter);
          if (err) reject(err);
          else {
            loaded.add(letter);
            resolve();
          }
        }, 1),
      );
    },
    deserialize(topic, data) {
      const letter = data?.toString('utf8', 0, 1) ?? '';
      if (data !== null && !loaded.has(letter)) throw new Error(`${letter} was not prepared`);
      return S.deserialize(topic, data);
    },
  };
}

function pipeline(valueSerde: Serde<string>) {
  const b = new StreamsBuilder();
  b.stream<string, string>('in', { keySerde: Serdes.string(), valueSerde })
    .mapValues((v) => v.toUpperCase())
    .to('out', { keySerde: Serdes.string(), valueSerde: Serdes.string() });
  return b;
}

describe('Serde.prepare in a task', () => {
  it('is awaited before deserialize, once per thing to load', async () => {
    const serde = lazySerde(() => undefined);
    const driver = new TopologyTestDriver(pipeline(serde).build());
    const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
    await input.pipeInput('k', 'apple', 1);
    await input.pipeInput('k', 'avocado', 2);
    await input.pipeInput('k', 'banana', 3);
    expect(driver.createOutputTopic('out', Serdes.string(), Serdes.string()).readValues()).toEqual([
      'APPLE',
      'AVOCADO',
      'BANANA',
    ]);
    expect([...serde.loaded]).toEqual(['a', 'b']);
  });

  it('a non-retriable failure is the record’s deserialization failure (continue skips it)', async () => {
    const serde = lazySerde((l) =>
      l === 'x' ? new CdcError('SERDE_FAILED', 'unknown schema x') : undefined,
    );
    const driver = new TopologyTestDriver(pipeline(serde).build(), {
      errorHandlers: { deserialization: ErrorPolicies.continue() },
    });
    const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
    await input.pipeInput('k', 'xylophone', 1);
    await input.pipeInput('k', 'apple', 2);
    expect(driver.createOutputTopic('out', Serdes.string(), Serdes.string()).readValues()).toEqual(['APPLE']);
    expect(driver.metrics.skipped).toBe(1);
  });

  it('a retriable failure (registry down) stops the task even under continue, skipping nothing', async () => {
    const serde = lazySerde(
      () => new CdcError('SCHEMA_REGISTRY_UNAVAILABLE', 'registry down', { retriable: true }),
    );
    const driver = new TopologyTestDriver(pipeline(serde).build(), {
      errorHandlers: { deserialization: ErrorPolicies.continue() },
    });
    const input = driver.createInputTopic('in', Serdes.string(), Serdes.string());
    const err = await input.pipeInput('k', 'apple', 1).catch((e: unknown) => e);
    expect(isCdcError(err, 'SCHEMA_REGISTRY_UNAVAILABLE')).toBe(true);
    expect(driver.metrics.skipped).toBe(0);
  });
});

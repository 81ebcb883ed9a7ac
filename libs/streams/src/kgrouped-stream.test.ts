import { describe, expect, it } from 'vitest';
import { Serdes } from './serde.ts';
import { StreamsBuilder } from './streams-builder.ts';
import { TopologyTestDriver } from './testing/topology-test-driver.ts';

const S = Serdes.string();
const N = Serdes.number();

describe('grouped aggregations', () => {
  it('count, reduce and aggregate per key, emitting each update', async () => {
    const b = new StreamsBuilder({ defaultKeySerde: S as never });
    const grouped = b.stream<string, number>('in', { keySerde: S, valueSerde: N }).groupByKey();
    grouped.count({ storeName: 'count' }).toStream().to('count', { valueSerde: N });
    grouped
      .reduce((a, v) => Math.max(a, v), { storeName: 'max' })
      .toStream()
      .to('max', { valueSerde: N });
    grouped
      .aggregate(
        () => ({ sum: 0, n: 0 }),
        (_k, v, a) => ({ sum: a.sum + v, n: a.n + 1 }),
        { storeName: 'avg' },
      )
      .toStream()
      .to('avg');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    await input.pipeRecords([
      { key: 'a', value: 3, timestamp: 1 },
      { key: 'b', value: 1, timestamp: 2 },
      { key: 'a', value: 5, timestamp: 3 },
      { key: 'a', value: 4, timestamp: 4 },
    ]);
    expect(
      driver
        .createOutputTopic('count', S, N)
        .readRecords()
        .map((r) => [r.key, r.value]),
    ).toEqual([
      ['a', 1],
      ['b', 1],
      ['a', 2],
      ['a', 3],
    ]);
    expect(driver.createOutputTopic('max', S, N).readValues()).toEqual([3, 1, 5, 5]);
    expect(await driver.getKeyValueStore('avg').get('a')).toEqual({ sum: 12, n: 3 });
    expect(await driver.getKeyValueStore('count').get('b')).toBe(1);
  });

  it('groupBy goes through a repartition topic and counts by the new key', async () => {
    const b = new StreamsBuilder();
    b.stream<string, { country: string }>('users', { keySerde: S })
      .groupBy((_k, v) => v.country, { keySerde: S, name: 'by-country' })
      .count({ storeName: 'per-country' });
    const topology = b.build();
    expect(topology.subtopologies).toHaveLength(2);
    expect(topology.describe()).toContain('<app>-by-country-repartition');
    const driver = new TopologyTestDriver(topology, { applicationId: 'app' });
    const users = driver.createInputTopic<string, { country: string }>('users', S);
    await users.pipeInput('u1', { country: 'FR' }, 1);
    await users.pipeInput('u2', { country: 'DE' }, 2);
    await users.pipeInput('u3', { country: 'FR' }, 3);
    expect(await driver.getKeyValueStore('per-country').get('FR')).toBe(2);
    expect(await driver.getKeyValueStore('per-country').get('DE')).toBe(1);
  });

  it('skips records with a null key or value', async () => {
    const b = new StreamsBuilder();
    b.stream<string, number>('in', { keySerde: S, valueSerde: N }).groupByKey().count({ storeName: 'c' });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    await input.pipeInput(null, 1, 1);
    await input.pipeInput('a', null, 1);
    expect(await driver.getKeyValueStore('c').get('a')).toBeUndefined();
  });

  it('logs every store write for the changelog', async () => {
    const b = new StreamsBuilder();
    b.stream<string, number>('in', { keySerde: S, valueSerde: N }).groupByKey().count({ storeName: 'c' });
    const driver = new TopologyTestDriver(b.build());
    await driver.createInputTopic('in', S, N).pipeInput('a', 1, 1);
    await driver.createInputTopic('in', S, N).pipeInput('a', 1, 2);
    expect(driver.changelog('c').map((r) => [r.key.toString(), r.value?.readDoubleBE(0)])).toEqual([
      ['a', 1],
      ['a', 2],
    ]);
  });
});

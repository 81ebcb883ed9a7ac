import { describe, expect, it } from 'vitest';
import { Serdes } from './serde.ts';
import { Stores } from './stores.ts';
import { StreamsBuilder } from './streams-builder.ts';
import { TimeWindows } from './windows.ts';

const S = Serdes.string();

describe('topology compilation', () => {
  it('cuts the graph at repartition topics and keeps a join with its table', () => {
    const b = new StreamsBuilder();
    const table = b.table<string, string>('customers', { keySerde: S, storeName: 'customers' });
    b.stream<string, { c: string }>('orders', { keySerde: S })
      .selectKey((_k, v) => v.c)
      .join(table, (o) => o)
      .groupByKey()
      .windowedBy(TimeWindows.tumbling(1000, { graceMs: 0 }))
      .count({ storeName: 'per-minute' });
    const t = b.build();
    expect(t.subtopologies).toHaveLength(2);
    const first = t.subtopologies.find((st) => st.sources.some((s) => s.topics.includes('orders')));
    const second = t.subtopologies.find((st) => st !== first);
    expect(first?.sources.flatMap((s) => s.topics)).toEqual(['orders']);
    expect(first?.sinks.map((s) => [s.topic, s.internal])).toEqual([
      [expect.stringMatching(/-repartition$/), true],
    ]);
    const secondTopics = second?.sources.flatMap((s) => s.topics) ?? [];
    expect(secondTopics).toHaveLength(2);
    expect(secondTopics).toEqual(
      expect.arrayContaining(['customers', expect.stringMatching(/-repartition$/)]),
    );
    expect(second?.stores.map((s) => s.name).sort()).toEqual(['customers', 'per-minute']);
    expect(t.describe()).toMatch(/source source-\d+ ← orders/);
  });

  it('rejects a processor that uses a store nobody added, naming both', () => {
    const b = new StreamsBuilder();
    b.stream('in').process(() => ({ process() {} }), { stores: ['missing'] });
    expect(() => b.build()).toThrow(/uses store missing, which was never added/);
  });

  it('rejects two stores with one name and invalid store names', () => {
    const b = new StreamsBuilder();
    b.addStateStore(Stores.keyValue('s', S, S));
    expect(() => b.addStateStore(Stores.keyValue('s', S, S))).toThrow(/duplicate store name s/);
    expect(() => Stores.keyValue('bad name', S, S)).toThrow(/store name "bad name"/);
  });

  it('rejects a topic read by two unconnected parts', () => {
    const b = new StreamsBuilder();
    b.stream('in').to('a');
    b.stream('in').to('b');
    expect(() => b.build()).toThrow(/topic in is read by two unconnected parts/);
  });
});

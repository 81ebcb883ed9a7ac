import { describe, expect, it } from 'vitest';
import { Serdes } from '../serde.ts';
import { StreamsBuilder } from '../streams-builder.ts';
import { planPartitions } from './partition-plan.ts';

const S = Serdes.string();
const name = (t: string, internal: boolean) => (internal ? `app-${t}` : t);

function joinTopology() {
  const b = new StreamsBuilder();
  const customers = b.table<string, unknown>('customers', { keySerde: S });
  b.stream<string, { c: string }>('orders', { keySerde: S })
    .selectKey((_k, v) => v.c)
    .join(customers, (o) => o)
    .to('out');
  return b.build();
}

describe('planPartitions', () => {
  it('sizes a repartition topic like the other sources of the subtopology that reads it', () => {
    const plan = planPartitions(
      joinTopology(),
      new Map([
        ['orders', 3],
        ['customers', 6],
      ]),
      name,
    );
    expect([...plan.repartitionTopics.values()]).toEqual([6]);
    expect([...plan.partitions.values()].sort()).toEqual([3, 6]);
  });

  it('refuses sources that are not co-partitioned, naming them and the fix', () => {
    const b = new StreamsBuilder();
    const t = b.table<string, unknown>('customers', { keySerde: S });
    b.stream<string, unknown>('orders', { keySerde: S }).join(t, (o) => o);
    expect(() =>
      planPartitions(
        b.build(),
        new Map([
          ['orders', 3],
          ['customers', 6],
        ]),
        name,
      ),
    ).toThrow(
      /co-partitioned.*customers=6, orders=3.*same number of partitions, or join through a global table/,
    );
  });

  it('refuses a missing source topic', () => {
    expect(() => planPartitions(joinTopology(), new Map([['orders', 3]]), name)).toThrow(
      /source topic customers does not exist/,
    );
  });

  it('sizes a repartition topic read alone like its writer', () => {
    const b = new StreamsBuilder();
    b.stream<string, { c: string }>('orders', { keySerde: S })
      .groupBy((_k, v) => v.c)
      .count();
    const plan = planPartitions(b.build(), new Map([['orders', 4]]), name);
    expect([...plan.repartitionTopics.values()]).toEqual([4]);
  });
});

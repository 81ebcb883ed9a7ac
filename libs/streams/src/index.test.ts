import { describe, expect, it } from 'vitest';
import { Serdes, StreamsBuilder, TimeWindows, type Windowed } from './index.ts';
import { TopologyTestDriver } from './testing/index.ts';

describe('the example in index.ts', () => {
  it('enriches, re-keys, counts per minute and emits on window close', async () => {
    const builder = new StreamsBuilder({ defaultKeySerde: Serdes.string() });
    const customers = builder.table<string, { name: string }>('shop.customers');
    builder
      .stream<string, { customerId: string; total: number }>('shop.orders')
      .selectKey((_k, order) => order.customerId)
      .join(customers, (order, customer) => ({ ...order, name: customer.name }))
      .groupByKey()
      .windowedBy(TimeWindows.tumbling(60_000, { graceMs: 5_000 }))
      .count({ emit: 'on-window-close', lateRecordsTopic: 'shop.orders.late' })
      .toStream()
      .to('shop.orders-per-customer-minute', { keySerde: Serdes.json<Windowed<string>>() });
    const driver = new TopologyTestDriver(builder.build());
    await driver.createInputTopic('shop.customers', Serdes.string()).pipeInput('c1', { name: 'Ann' }, 0);
    const orders = driver.createInputTopic('shop.orders', Serdes.string());
    await orders.pipeInput('o1', { customerId: 'c1', total: 1 }, 1_000);
    await orders.pipeInput('o2', { customerId: 'c1', total: 2 }, 2_000);
    await orders.pipeInput('o3', { customerId: 'c1', total: 3 }, 65_000); // closes the first minute
    await orders.pipeInput('o4', { customerId: 'c1', total: 4 }, 3_000); // late
    const out = driver.createOutputTopic(
      'shop.orders-per-customer-minute',
      Serdes.json<Windowed<string>>(),
      Serdes.number(),
    );
    expect(out.readRecords().map((r) => [r.key, r.value])).toEqual([
      [{ key: 'c1', window: { start: 0, end: 60_000 } }, 2],
    ]);
    expect(
      driver
        .createOutputTopic('shop.orders.late', Serdes.string())
        .readRecords()
        .map((r) => r.key),
    ).toEqual(['c1']); // the record as the aggregating task read it: re-keyed
  });
});

import { describe, expect, it } from 'vitest';
import { isChangeEventDelete } from './options.ts';
import { Serdes } from './serde.ts';
import { StreamsBuilder } from './streams-builder.ts';
import { TopologyTestDriver } from './testing/topology-test-driver.ts';

const S = Serdes.string();

interface Customer {
  name: string;
}

describe('tables', () => {
  it('materializes the latest value per key; tombstones remove the key and flow on as tombstones', async () => {
    const b = new StreamsBuilder({ defaultKeySerde: S as never });
    b.table<string, Customer>('customers', { storeName: 'customers' }).toStream().to('changes');
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic<string, Customer>('customers', S);
    await input.pipeInput('1', { name: 'Ann' }, 1);
    await input.pipeInput('2', { name: 'Bob' }, 2);
    await input.pipeInput('1', { name: 'Anna' }, 3);
    await input.pipeInput('2', null, 4);
    const store = driver.getKeyValueStore<string, Customer>('customers');
    expect(await store.get('1')).toEqual({ name: 'Anna' });
    expect(await store.get('2')).toBeUndefined();
    expect(
      driver
        .createOutputTopic('changes', S)
        .readRecords()
        .map((r) => [r.key, r.value]),
    ).toEqual([
      ['1', { name: 'Ann' }],
      ['2', { name: 'Bob' }],
      ['1', { name: 'Anna' }],
      ['2', null],
    ]);
  });

  it('treats a CDC delete event as a delete when asked to', async () => {
    const b = new StreamsBuilder({ defaultKeySerde: S as never });
    b.table<string, { op: string; after: Customer | null }>('cdc.customers', {
      storeName: 't',
      isDelete: isChangeEventDelete,
    });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic<string, { op: string; after: Customer | null }>('cdc.customers', S);
    await input.pipeInput('1', { op: 'c', after: { name: 'Ann' } }, 1);
    await input.pipeInput('1', { op: 'd', after: null }, 2);
    expect(await driver.getKeyValueStore('t').get('1')).toBeUndefined();
  });

  it('a delete of an absent key emits nothing', async () => {
    const b = new StreamsBuilder({ defaultKeySerde: S as never });
    b.table<string, Customer>('customers').toStream().to('changes');
    const driver = new TopologyTestDriver(b.build());
    await driver.createInputTopic<string, Customer>('customers', S).pipeInput('9', null, 1);
    expect(driver.createOutputTopic('changes').isEmpty()).toBe(true);
  });
});

describe('table–table joins', () => {
  async function run(kind: 'join' | 'leftJoin') {
    const b = new StreamsBuilder({ defaultKeySerde: S as never });
    const left = b.table<string, string>('left', { valueSerde: S });
    const right = b.table<string, string>('right', { valueSerde: S });
    const joined =
      kind === 'join'
        ? left.join(right, (l, r) => `${l}+${r}`, { storeName: 'joined', valueSerde: S })
        : left.leftJoin(right, (l, r) => `${l}+${r ?? '∅'}`, { storeName: 'joined', valueSerde: S });
    joined.toStream().to('out', { valueSerde: S });
    const driver = new TopologyTestDriver(b.build());
    const l = driver.createInputTopic('left', S, S);
    const r = driver.createInputTopic('right', S, S);
    await l.pipeInput('k', 'a', 1);
    await r.pipeInput('k', 'x', 2);
    await l.pipeInput('k', 'b', 3);
    await r.pipeInput('k', null, 4);
    await l.pipeInput('k', null, 5);
    return { out: driver.createOutputTopic('out', S, S).readValues(), driver };
  }

  it('inner: a row exists while both sides have one', async () => {
    const { out, driver } = await run('join');
    expect(out).toEqual(['a+x', 'b+x', null]);
    expect(await driver.getKeyValueStore('joined').get('k')).toBeUndefined();
  });

  it('left: a row exists while the left side has one', async () => {
    const { out } = await run('leftJoin');
    expect(out).toEqual(['a+∅', 'a+x', 'b+x', 'b+∅', null]);
  });
});

describe('stream–table joins', () => {
  function topology(left: boolean) {
    const b = new StreamsBuilder({ defaultKeySerde: S as never });
    const customers = b.table<string, Customer>('customers');
    const orders = b.stream<string, { total: number }>('orders');
    (left
      ? orders.leftJoin(customers, (o, c) => ({ ...o, name: c?.name ?? null }))
      : orders.join(customers, (o, c) => ({ ...o, name: c.name }))
    ).to('enriched');
    return new TopologyTestDriver(b.build());
  }

  it('inner join enriches matching records and drops the rest', async () => {
    const driver = topology(false);
    await driver.createInputTopic<string, Customer>('customers', S).pipeInput('c1', { name: 'Ann' }, 1);
    const orders = driver.createInputTopic<string, { total: number }>('orders', S);
    await orders.pipeInput('c1', { total: 5 }, 2);
    await orders.pipeInput('c2', { total: 7 }, 3);
    expect(driver.createOutputTopic('enriched', S).readValues()).toEqual([{ total: 5, name: 'Ann' }]);
  });

  it('left join keeps unmatched records with null, and sees table updates as they come', async () => {
    const driver = topology(true);
    const customers = driver.createInputTopic<string, Customer>('customers', S);
    const orders = driver.createInputTopic<string, { total: number }>('orders', S);
    await orders.pipeInput('c1', { total: 1 }, 1);
    await customers.pipeInput('c1', { name: 'Ann' }, 2);
    await orders.pipeInput('c1', { total: 2 }, 3);
    await customers.pipeInput('c1', null, 4);
    await orders.pipeInput('c1', { total: 3 }, 5);
    expect(driver.createOutputTopic('enriched', S).readValues()).toEqual([
      { total: 1, name: null },
      { total: 2, name: 'Ann' },
      { total: 3, name: null },
    ]);
  });

  it('repartitions a re-keyed stream before joining', async () => {
    const b = new StreamsBuilder({ defaultKeySerde: S as never });
    const customers = b.table<string, Customer>('customers');
    b.stream<string, { customerId: string }>('orders')
      .selectKey((_k, o) => o.customerId)
      .join(customers, (o, c) => `${o.customerId}:${c.name}`)
      .to('out', { valueSerde: S });
    const topology = b.build();
    expect(topology.subtopologies).toHaveLength(2);
    const driver = new TopologyTestDriver(topology);
    await driver.createInputTopic<string, Customer>('customers', S).pipeInput('c9', { name: 'Zoe' }, 1);
    await driver
      .createInputTopic<string, { customerId: string }>('orders', S)
      .pipeInput('order-1', { customerId: 'c9' }, 2);
    expect(
      driver
        .createOutputTopic('out', S, S)
        .readRecords()
        .map((r) => [r.key, r.value]),
    ).toEqual([['c9', 'c9:Zoe']]);
  });
});

describe('stream–global-table joins', () => {
  it('looks up by a key taken from the value, inner and left', async () => {
    const b = new StreamsBuilder({ defaultKeySerde: S as never });
    const products = b.globalTable<string, { title: string }>('products', { storeName: 'products' });
    const orders = b.stream<string, { productId: string }>('orders');
    orders
      .joinGlobal(
        products,
        (_k, o) => o.productId,
        (o, p) => `${o.productId}:${p.title}`,
      )
      .to('inner', { valueSerde: S });
    orders
      .leftJoinGlobal(
        products,
        (_k, o) => o.productId,
        (o, p) => `${o.productId}:${p?.title ?? '?'}`,
      )
      .to('left', { valueSerde: S });
    const topology = b.build();
    expect(topology.globals.map((g) => g.topic)).toEqual(['products']);
    const driver = new TopologyTestDriver(topology);
    const p = driver.createInputTopic<string, { title: string }>('products', S);
    await p.pipeInput('p1', { title: 'Tea' }, 1);
    await p.pipeInput('p2', { title: 'Gone' }, 1);
    await p.pipeInput('p2', null, 1);
    const o = driver.createInputTopic<string, { productId: string }>('orders', S);
    await o.pipeInput('o1', { productId: 'p1' }, 2);
    await o.pipeInput('o2', { productId: 'p2' }, 3);
    expect(driver.createOutputTopic('inner', S, S).readValues()).toEqual(['p1:Tea']);
    expect(driver.createOutputTopic('left', S, S).readValues()).toEqual(['p1:Tea', 'p2:?']);
    expect(await driver.getKeyValueStore('products').get('p2')).toBeUndefined();
  });
});

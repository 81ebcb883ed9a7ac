import { ProcessingSectionSchema } from '@cdc/pipeline';
import { Serdes } from '@cdc/streams';
import { TopologyTestDriver } from '@cdc/streams/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Envelope } from './change.ts';
import { jsonTopologyIo } from './json-io.ts';
import type { PlainRow } from './plain-value.ts';
import { buildTopology, fieldsUsed, names } from './topology.ts';

const ORDERS = 'shop.cdc.public.orders';
const CUSTOMERS = 'shop.cdc.public.customers';
const PRODUCTS = 'shop.cdc.public.products';

function envelope(
  op: Envelope['op'],
  before: PlainRow | null,
  after: PlainRow | null,
  tsMs: number,
): Envelope {
  const source = {
    connector: 'postgresql',
    name: 'shop',
    db: 'cdc',
    schema: 'public',
    table: 'orders',
    lsn: '0/0',
    commitLsn: '0/0',
    txId: null,
    tsMs,
    snapshot: 'false',
  } as const;
  return { op, before, after, source, tsMs, changeId: `c-${tsMs}-${op}` };
}

function section(aggregate: Record<string, unknown>[], joinType: 'left' | 'inner' = 'left') {
  return ProcessingSectionSchema.parse({
    enrich: [
      {
        name: 'orders_enriched',
        from: ORDERS,
        join: [
          { table: CUSTOMERS, on: 'customer_id', type: joinType, fields: ['region', 'tier'] },
          { table: PRODUCTS, on: 'product_id', fields: { product_name: 'name' } },
        ],
      },
    ],
    aggregate,
  });
}

const revenue = (extra: Record<string, unknown> = {}) => ({
  name: 'revenue',
  from: 'orders_enriched',
  topic: 'out.revenue',
  groupBy: ['region'],
  window: { type: 'tumbling', size: '1m', grace: '1h' },
  eventTime: { field: 'placed_at' },
  aggregations: [
    { name: 'revenue', fn: 'sum', field: 'amount' },
    { name: 'orderCount', fn: 'count' },
    { name: 'smallest', fn: 'min', field: 'amount' },
    { name: 'largest', fn: 'max', field: 'amount' },
    { name: 'customers', fn: 'count_distinct', field: 'customer_id' },
    { name: 'average', fn: 'avg', field: 'amount' },
  ],
  ...extra,
});

async function setup(aggregates: Record<string, unknown>[], joinType: 'left' | 'inner' = 'left') {
  let now = 1_000;
  const driver = new TopologyTestDriver(
    buildTopology(section(aggregates, joinType), { io: jsonTopologyIo(), now: () => now++ }),
  );
  const key = Serdes.json<PlainRow>();
  const env = Serdes.json<Envelope>();
  const customers = driver.createInputTopic(CUSTOMERS, key, env);
  const products = driver.createInputTopic(PRODUCTS, key, env);
  const orders = driver.createInputTopic(ORDERS, key, env);
  for (const [id, region, tier] of [
    [1, 'eu', 'gold'],
    [2, 'us', 'silver'],
    [3, 'apac', 'gold'],
  ] as const)
    await customers.pipeInput({ id }, envelope('r', null, { id, region, tier, name: `c${id}` }, 1));
  await products.pipeInput({ id: 10 }, envelope('r', null, { id: 10, name: 'Widget' }, 1));
  let ts = 100;
  const order = {
    insert: (row: PlainRow, at?: number) => {
      if (at !== undefined) ts = at;
      return orders.pipeInput({ id: row.id as number }, envelope('c', null, row, ts++), ts);
    },
    update: (before: PlainRow | null, row: PlainRow) =>
      orders.pipeInput({ id: row.id as number }, envelope('u', before, row, ts++), ts),
    delete: (id: number) => orders.pipeInput({ id }, envelope('d', null, null, ts++), ts),
  };
  return { driver, order, customers };
}

const row = (
  id: number,
  customer_id: number,
  amount: string,
  placed_at: number,
  product_id = 10,
): PlainRow => ({
  id,
  customer_id,
  product_id,
  amount,
  placed_at,
  status: 'placed',
});

/** An output record's key as the JSON key serde writes it: the group's values and the window start. */
const outKey = (group: string[], windowStartMs: number) =>
  JSON.stringify({ group: JSON.stringify(group), windowStartMs });

describe('enrich + aggregate with CDC retractions', () => {
  it('an update moves an order between groups and windows; a delete retracts it; min/max/distinct follow', async () => {
    const { driver, order } = await setup([revenue({ emit: 'on-update' })]);
    const out = driver.createOutputTopic<string, Record<string, unknown>>(
      'out.revenue',
      Serdes.string(),
      Serdes.json(),
    );
    await order.insert(row(1, 1, '10.50', 5_000));
    await order.insert(row(2, 1, '3.25', 6_000));
    await order.insert(row(3, 2, '7', 10_000));
    let state = out.readKeyValuesToMap();
    expect(state.get(outKey(['eu'], 0))).toMatchObject({
      region: 'eu',
      windowStartMs: 0,
      windowEndMs: 60_000,
      revenue: '13.75',
      orderCount: 2,
      smallest: '3.25',
      largest: '10.5',
      customers: 1,
      average: 6.875,
    });
    // order 1 moves to customer 2 (region us) and into the next minute: REPLICA IDENTITY DEFAULT sends no before
    await order.update(null, row(1, 2, '10.50', 65_000));
    state = out.readKeyValuesToMap();
    expect(state.get(outKey(['eu'], 0))).toMatchObject({
      revenue: '3.25',
      orderCount: 1,
      largest: '3.25',
    });
    expect(state.get(outKey(['us'], 60000))).toMatchObject({
      revenue: '10.5',
      orderCount: 1,
    });
    // deleting order 2 empties eu's first window: a tombstone
    await order.delete(2);
    const records = out.readRecords();
    expect(records.at(-1)).toMatchObject({ key: outKey(['eu'], 0), value: null });
    // max under retraction: add 9 and 8 to us/0, delete the 9, max falls back to 8
    await order.insert(row(4, 2, '9', 11_000));
    await order.insert(row(5, 2, '8', 12_000));
    await order.delete(4);
    state = out.readKeyValuesToMap();
    expect(state.get(outKey(['us'], 0))).toMatchObject({
      revenue: '15',
      orderCount: 2,
      smallest: '7',
      largest: '8',
    });
    // an update that changes nothing the aggregate sees emits nothing
    await order.update(null, { ...row(5, 2, '8', 12_000) });
    expect(out.isEmpty()).toBe(true);
  });

  it('an inner join drops orders of unknown customers and retracts an order whose customer it can no longer find', async () => {
    const { driver, order } = await setup([revenue({ emit: 'on-update', groupBy: ['tier'] })], 'inner');
    const out = driver.createOutputTopic<string, Record<string, unknown>>(
      'out.revenue',
      Serdes.string(),
      Serdes.json(),
    );
    await order.insert(row(1, 1, '5', 1_000));
    await order.insert(row(2, 99, '5', 1_000));
    expect(out.readKeyValuesToMap().get(outKey(['gold'], 0))).toMatchObject({
      orderCount: 1,
    });
    await order.update(null, row(1, 98, '5', 1_000));
    expect(out.readRecords().at(-1)).toMatchObject({ value: null });
  });

  it('a filter applies to the old and the new version: an order that stops matching is retracted', async () => {
    const { driver, order } = await setup([
      revenue({ emit: 'on-update', filter: [{ field: 'status', op: '!=', value: 'cancelled' }] }),
    ]);
    const out = driver.createOutputTopic<string, Record<string, unknown>>(
      'out.revenue',
      Serdes.string(),
      Serdes.json(),
    );
    await order.insert(row(1, 1, '5', 1_000));
    await order.insert(row(2, 1, '6', 1_000));
    await order.update(null, { ...row(1, 1, '5', 1_000), status: 'cancelled' });
    expect(out.readKeyValuesToMap().get(outKey(['eu'], 0))).toMatchObject({
      revenue: '6',
      orderCount: 1,
    });
  });

  it('hopping windows with top: each order counts in every window that holds it, retractions too', async () => {
    const { driver, order } = await setup([
      {
        name: 'top_products',
        from: 'orders_enriched',
        topic: 'out.top',
        window: { type: 'hopping', size: '15m', advance: '5m', grace: '1h' },
        eventTime: { field: 'placed_at' },
        emit: 'on-update',
        aggregations: [{ name: 'products', fn: 'top', field: 'product_id', by: 'amount', n: 2 }],
      },
    ]);
    const out = driver.createOutputTopic<string, Record<string, unknown>>(
      'out.top',
      Serdes.string(),
      Serdes.json(),
    );
    await order.insert(row(1, 1, '5', 60_000, 10));
    await order.insert(row(2, 1, '7', 60_000, 11));
    await order.insert(row(3, 1, '1', 60_000, 12));
    await order.insert(row(4, 1, '4', 60_000, 10));
    let state = out.readKeyValuesToMap();
    // 60 s falls in the windows starting at -10 min, -5 min and 0
    expect([...state.keys()].sort()).toEqual([outKey([], -300000), outKey([], -600000), outKey([], 0)]);
    expect(state.get(outKey([], 0))?.products).toEqual([
      { rank: 1, key: '10', value: '9', count: 2 },
      { rank: 2, key: '11', value: '7', count: 1 },
    ]);
    await order.delete(2);
    state = out.readKeyValuesToMap();
    expect(state.get(outKey([], 0))?.products).toEqual([
      { rank: 1, key: '10', value: '9', count: 2 },
      { rank: 2, key: '12', value: '1', count: 1 },
    ]);
  });

  it('session windows count activity per key and merge sessions that a change bridges', async () => {
    const { driver, order } = await setup([
      {
        name: 'sessions',
        from: ORDERS,
        topic: 'out.sessions',
        groupBy: ['customer_id'],
        window: { type: 'session', gap: '5m', grace: '10m' },
        aggregations: [
          { name: 'events', fn: 'count' },
          { name: 'total', fn: 'sum', field: 'amount' },
        ],
      },
    ]);
    const out = driver.createOutputTopic<string, Record<string, unknown>>(
      'out.sessions',
      Serdes.string(),
      Serdes.json(),
    );
    // event time = source.tsMs (the default)
    await order.insert(row(1, 1, '1', 0), 0);
    await order.insert(row(2, 1, '2', 0), 480_000); // 8 min later: a second session
    await order.insert(row(3, 2, '4', 0), 240_000); // another customer
    await order.insert(row(4, 1, '3', 0), 240_000); // bridges customer 1's two sessions
    expect(out.isEmpty()).toBe(true);
    await order.insert(row(5, 9, '0', 0), 3_600_000); // closes them all
    const closed = out.readKeyValuesToMap();
    expect(closed.get(outKey(['1'], 0))).toMatchObject({
      windowEndMs: 480_000,
      events: 3,
      total: '6',
    });
    expect(closed.get(outKey(['2'], 240000))).toMatchObject({ events: 1, total: '4' });
    expect(closed.size).toBe(2);
  });

  it.each([
    ['a grace longer than any disorder', '1h'],
    ['no grace: every out-of-order change and late retraction arrives after its window closed', '0s'],
  ])(
    'windows equal a GROUP BY over the final source state, for random inserts, updates and deletes (%s)',
    async (_what, grace) => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              kind: fc.constantFrom('insert', 'update', 'update', 'delete'),
              id: fc.integer({ min: 1, max: 12 }),
              customer: fc.integer({ min: 1, max: 4 }),
              cents: fc.integer({ min: 0, max: 100_000 }),
              at: fc.integer({ min: 0, max: 599_999 }),
              cancelled: fc.boolean(),
            }),
            { maxLength: 60 },
          ),
          async (ops) => {
            const { driver, order } = await setup([
              revenue({
                window: { type: 'hopping', size: '2m', advance: '1m', grace },
                filter: [{ field: 'status', op: '!=', value: 'cancelled' }],
              }),
            ]);
            const source = new Map<number, PlainRow>();
            for (const op of ops) {
              const r = {
                ...row(op.id, op.customer, (op.cents / 100).toFixed(2), op.at),
                status: op.cancelled ? 'cancelled' : 'placed',
              };
              if (op.kind === 'delete') {
                if (!source.has(op.id)) continue;
                source.delete(op.id);
                await order.delete(op.id);
              } else if (op.kind === 'insert' && !source.has(op.id)) {
                source.set(op.id, r);
                await order.insert(r);
              } else if (source.has(op.id)) {
                source.set(op.id, r);
                await order.update(null, r);
              }
            }
            await order.insert(row(1_000, 1, '0', 10 * 3_600_000)); // moves stream time past every window's grace
            const out = driver.createOutputTopic<string, Record<string, unknown>>(
              'out.revenue',
              Serdes.string(),
              Serdes.json(),
            );
            const got = new Map<string, string>();
            for (const [k, v] of out.readKeyValuesToMap())
              got.set(k, `${v.revenue}/${v.orderCount}/${v.smallest}/${v.largest}/${v.customers}`);
            const expected = new Map<
              string,
              { sum: number; n: number; min: number; max: number; c: Set<number> }
            >();
            const region = ['', 'eu', 'us', 'apac', null];
            for (const r of source.values()) {
              if (r.status === 'cancelled') continue;
              const cents = Math.round(Number(r.amount) * 100);
              const t = r.placed_at as number;
              for (const start of [t - (t % 60_000) - 60_000, t - (t % 60_000)]) {
                const k = JSON.stringify({
                  group: JSON.stringify([region[r.customer_id as number] ?? null]),
                  windowStartMs: start,
                });
                const e = expected.get(k) ?? { sum: 0, n: 0, min: Infinity, max: -Infinity, c: new Set() };
                e.sum += cents;
                e.n++;
                e.min = Math.min(e.min, cents);
                e.max = Math.max(e.max, cents);
                e.c.add(r.customer_id as number);
                expected.set(k, e);
              }
            }
            const text = (c: number) => String(c / 100);
            const want = new Map(
              [...expected].map(([k, e]) => [
                k,
                `${text(e.sum)}/${e.n}/${text(e.min)}/${text(e.max)}/${e.c.size}`,
              ]),
            );
            expect(got).toEqual(want);
          },
        ),
        { numRuns: 40 },
      );
    },
  );
});

describe('only the fields the aggregates read', () => {
  it('are the groups, inputs, filter and event-time fields of the aggregates reading an enrich step', () => {
    const s = section([revenue({ filter: [{ field: 'status', op: '!=', value: 'cancelled' }] })]);
    expect(fieldsUsed(s, 'orders_enriched')?.sort()).toEqual(
      ['amount', 'customer_id', 'placed_at', 'region', 'status'].sort(),
    );
    expect(fieldsUsed(s, 'nothing-reads-this')).toBeUndefined();
  });

  it('reach the last-version changelog; a change of another field emits nothing; a customer moved to another region counts the orders changed after it there', async () => {
    const { driver, order, customers } = await setup([
      revenue({ emit: 'on-update', aggregations: [{ name: 'revenue', fn: 'sum', field: 'amount' }] }),
    ]);
    const out = driver.createOutputTopic<string, Record<string, unknown>>(
      'out.revenue',
      Serdes.string(),
      Serdes.json(),
    );
    await order.insert(row(1, 1, '10', 5_000));
    const logged = driver.changelog(names.rowsStore('orders_enriched'));
    expect(logged).toHaveLength(1);
    const first = logged[0] as { value: Buffer | null };
    const version = JSON.parse((first.value as Buffer).toString('utf8')) as { row: PlainRow };
    expect(Object.keys(version.row).sort()).toEqual(['amount', 'placed_at', 'region']);
    expect(out.readValues()).toHaveLength(1);

    // status and product are read by nothing: no retraction, no new result
    await order.update(null, { ...row(1, 1, '10', 5_000), status: 'paid', product_id: 11 });
    expect(out.isEmpty()).toBe(true);

    // the global table's row changes: a later change of order 1 is enriched with the new region
    await customers.pipeInput(
      { id: 1 },
      envelope('u', null, { id: 1, region: 'us', tier: 'gold', name: 'c1' }, 2),
    );
    await order.update(null, row(1, 1, '12', 5_000));
    const state = out.readKeyValuesToMap();
    expect(state.get(outKey(['eu'], 0)) ?? null).toBeNull();
    expect(state.get(outKey(['us'], 0))).toMatchObject({ region: 'us', revenue: '12' });
  });
});

describe('combined deltas (between commits) against one delta per change', () => {
  const hopping = (extra: Record<string, unknown> = {}) =>
    revenue({
      name: 'revenue_hop',
      topic: 'out.revenue_hop',
      window: { type: 'hopping', size: '3m', advance: '1m', grace: '1h' },
      ...extra,
    });

  async function run(ops: [number, number, number, number, number][], combine: boolean, every: number) {
    const topology = buildTopology(
      section([revenue({ emit: 'on-update' }), hopping({ emit: 'on-update' })]),
      {
        io: jsonTopologyIo(),
        now: () => 0,
        combine,
      },
    );
    const driver = new TopologyTestDriver(topology, { commitEachRecord: !combine });
    const key = Serdes.json<PlainRow>();
    const env = Serdes.json<Envelope>();
    const customers = driver.createInputTopic(CUSTOMERS, key, env);
    const orders = driver.createInputTopic(ORDERS, key, env);
    for (const [id, region] of [
      [1, 'eu'],
      [2, 'us'],
      [3, 'apac'],
    ] as const)
      await customers.pipeInput({ id }, envelope('r', null, { id, region, tier: 'gold', name: `c${id}` }, 1));
    const outs = ['out.revenue', 'out.revenue_hop'].map((t) =>
      driver.createOutputTopic<string, Record<string, unknown>>(t, Serdes.string(), Serdes.json()),
    );
    let ts = 100;
    for (const [i, [kind, id, customer, cents, minute]] of ops.entries()) {
      const r = row(id, customer, (cents / 100).toFixed(2), minute * 60_000 + 1_000);
      if (kind === 0) await orders.pipeInput({ id }, envelope('c', null, r, ts++), ts);
      else if (kind === 1) await orders.pipeInput({ id }, envelope('u', null, r, ts++), ts);
      else await orders.pipeInput({ id }, envelope('d', null, null, ts++), ts);
      if (combine && (i + 1) % every === 0) await driver.commit();
    }
    await driver.commit();
    // the last result of every group and window; an emptied one is a tombstone (or never there)
    return outs.map((o) => {
      const m = o.readKeyValuesToMap();
      return new Map([...m].filter(([, v]) => v !== null).map(([k, v]) => [k, { ...v, emittedAtMs: 0 }]));
    });
  }

  it('give the same last result for every group and window, tumbling and hopping, with moves and deletes', async () => {
    const op = fc.tuple(
      fc.integer({ min: 0, max: 2 }), // insert, update, delete
      fc.integer({ min: 1, max: 6 }), // order id
      fc.integer({ min: 1, max: 3 }), // customer (region)
      fc.integer({ min: 1, max: 9_999 }), // amount in cents
      fc.integer({ min: 0, max: 5 }), // minute of placed_at
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 12 }),
        async (ops, every) => {
          const oneByOne = await run(ops, false, every);
          const combined = await run(ops, true, every);
          expect(combined).toEqual(oneByOne);
        },
      ),
      { numRuns: 60 },
    );
  });
});

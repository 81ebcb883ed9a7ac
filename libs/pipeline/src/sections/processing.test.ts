import { describe, expect, it } from 'vitest';
import { ProcessingSectionSchema } from './processing.ts';

const ok = {
  enrich: [
    {
      name: 'orders_enriched',
      from: 'shop.cdc.public.orders',
      join: [{ table: 'shop.cdc.public.customers', on: 'customer_id', fields: ['region'] }],
    },
  ],
  aggregate: [
    {
      name: 'revenue',
      from: 'orders_enriched',
      topic: 'aggregates.revenue',
      groupBy: ['region'],
      window: { type: 'tumbling', size: '1m', grace: '10s' },
      aggregations: [{ name: 'revenue', fn: 'sum', field: 'amount' }],
    },
  ],
};

function issues(input: unknown): string[] {
  const r = ProcessingSectionSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('the processing section', () => {
  it('reads durations and fills defaults', () => {
    const p = ProcessingSectionSchema.parse(ok);
    expect(p.aggregate[0]?.window).toEqual({
      type: 'tumbling',
      size: 60_000,
      grace: 10_000,
      retention: 86_400_000,
    });
    expect(p.aggregate[0]?.eventTime).toBe('source');
    expect(p.enrich[0]?.join[0]?.type).toBe('left');
    expect(p.http.port).toBe(18090);
  });

  it('names each bad key', () => {
    const bad = structuredClone(ok) as unknown as {
      enrich: { join: { type: string }[] }[];
      aggregate: Record<string, unknown>[];
    };
    (bad.enrich[0]?.join[0] as { type: string }).type = 'outer';
    bad.aggregate[0] = {
      ...bad.aggregate[0],
      from: 'nothing',
      window: { type: 'hopping', size: '1m', advance: '5m' },
      aggregations: [
        { name: 'x', fn: 'median', field: 'a' },
        { name: 'y', fn: 'sum' },
        { name: 'region', fn: 'count' },
      ],
      emit: 'sometimes',
    };
    const found = issues(bad);
    for (const key of [
      'enrich.0.join.0.type',
      'aggregate.0.aggregations.0.fn',
      'aggregate.0.aggregations.1.field: sum needs a field',
      'aggregate.0.emit',
    ])
      expect(found.join('\n')).toContain(key);
    expect(issues({ ...ok, aggregate: [{ ...ok.aggregate[0], from: 'nothing' }] })).toEqual([
      'aggregate.0.from: "nothing" is neither an enrich declaration (orders_enriched) nor a topic name',
    ]);
    expect(
      issues({
        ...ok,
        aggregate: [{ ...ok.aggregate[0], window: { type: 'hopping', size: '1m', advance: '5m' } }],
      }),
    ).toEqual(['aggregate.0.window.advance: advance must not exceed size']);
    expect(issues({ ...ok, aggregate: [{ ...ok.aggregate[0], groupBy: ['revenue'] }] })).toEqual([
      'aggregate.0.aggregations: output field revenue is defined twice',
    ]);
  });
});

import { PipelineSchema } from '@cdc/pipeline';
import { describe, expect, it } from 'vitest';
import { pipelineGraph, tableTopics, tableViews } from './read-model.ts';

const pipeline = PipelineSchema.parse({
  kafka: { brokers: ['127.0.0.1:9092'] },
  registry: { url: 'http://127.0.0.1:8081' },
  sources: {
    postgres: [{ name: 'shop', connection: { host: 'h', database: 'db', user: 'u' } }],
    mongo: [{ name: 'docs', uri: 'mongodb://h/', include: ['db'] }],
  },
  clickhouse: { url: 'http://127.0.0.1:8123', database: 'x' },
});
const topics = [
  'shop.db.public.orders',
  'shop.db.public.orders.v2',
  'shop.db.public.items',
  'shop.dead-letter',
  'shop.quarantine',
  '__shop.paused',
  'docs.db.carts',
  'other.db.public.x',
  'shop.otherdb.public.orders',
  'docs.otherdb.carts',
];
const sample = (name: string, labels: Record<string, string>, value: number) => ({ name, labels, value });

describe('tableTopics', () => {
  it('finds every captured table of every source, versioned topics included, and nothing internal or of another database under the same prefix', () => {
    expect(tableTopics(pipeline, topics).map((t) => `${t.source} ${t.table} ${t.topic}`)).toEqual([
      'docs db.carts docs.db.carts',
      'shop public.items shop.db.public.items',
      'shop public.orders shop.db.public.orders',
      'shop public.orders shop.db.public.orders.v2',
    ]);
  });
});

describe('tableViews', () => {
  const cur = {
    at: 2_000,
    services: {
      'capture-postgres': [
        sample('cdc_records_out_total', { stage: 'capture', topic: 'shop.db.public.items' }, 150),
        sample('cdc_snapshot_rows_done', { source: 'shop', table: 'public.items' }, 40),
        sample('cdc_snapshot_rows_estimated', { source: 'shop', table: 'public.items' }, 100),
        sample('cdc_snapshot_rows_per_second', { source: 'shop', table: 'public.items' }, 20),
        sample('cdc_snapshot_eta_seconds', { source: 'shop', table: 'public.items' }, 3),
        sample('cdc_dead_letter_total', { topic: 'shop.db.public.items', reason: 'POISON_RECORD' }, 2),
      ],
      'sink-clickhouse': [
        sample('cdc_records_out_total', { stage: 'sink', topic: 'shop.db.public.items' }, 120),
        sample('cdc_consumer_lag', { group: 'g', topic: 'shop.db.public.items', partition: '0' }, 30),
      ],
    },
  };
  const prev = {
    at: 1_000,
    services: {
      'capture-postgres': [
        sample('cdc_records_out_total', { stage: 'capture', topic: 'shop.db.public.items' }, 100),
      ],
      'sink-clickhouse': [
        sample('cdc_records_out_total', { stage: 'sink', topic: 'shop.db.public.items' }, 110),
      ],
    },
  };
  const views = tableViews(pipeline, topics, new Set(['shop.db.public.orders']), cur, prev, () => null);
  const of = (topic: string) => views.find((v) => v.topic === topic);

  it('says what a table is doing: paused (both topic versions), snapshotting with progress, waiting without metrics', () => {
    expect(of('shop.db.public.orders')?.state).toBe('paused');
    expect(of('shop.db.public.orders.v2')?.state).toBe('paused');
    expect(of('shop.db.public.items')).toMatchObject({
      state: 'snapshotting',
      snapshot: { done: 40, estimated: 100, percent: 40, rowsPerSecond: 20, etaSeconds: 3 },
    });
    expect(of('docs.db.carts')?.state).toBe('waiting');
  });

  it('gives counts, rates per second, lag and dead letters by reason', () => {
    expect(of('shop.db.public.items')).toMatchObject({
      captured: 150,
      written: 120,
      capturedPerS: 50,
      writtenPerS: 10,
      lag: 30,
      deadLetters: { POISON_RECORD: 2 },
      sinkTable: 'shop_db_public_items',
    });
  });

  it('draws sources → topics → sink tables', () => {
    const g = pipelineGraph(pipeline, views);
    expect(g.edges).toContainEqual({ from: 'source:shop', to: 'topic:shop.db.public.items' });
    expect(g.edges).toContainEqual({ from: 'topic:shop.db.public.items', to: 'sink:shop_db_public_items' });
    expect(new Set(g.nodes.map((n) => n.id)).size).toBe(g.nodes.length);
  });
});

/**
 * topic-created-later: a topic matching `sink.topics` that is created after the sink started (a
 * table created while the pipeline runs) is consumed from its beginning within a bounded time,
 * without a restart, while the topics it already read keep flowing: every record is read and
 * inserted exactly once across the switch of subscriptions.
 */
import { describe, expect, it } from 'vitest';
import { TableManager } from '../../src/schema/tables.ts';
import { ClickHouseSink } from '../../src/sink.ts';
import {
  embeddedTransport,
  OrdersLoad,
  registry,
  sinkOptions,
  testKafka,
  testLogger,
  unique,
  until,
} from '../helpers.ts';

describe('topic-created-later', () => {
  it('consumes a topic created after the start, and the others without loss or duplicates', async () => {
    const prefix = unique('it.late');
    const first = new OrdersLoad(`${prefix}.public.orders`, 7);
    const second = new OrdersLoad(`${prefix}.public.created_later`, 11);
    const third = new OrdersLoad(`${prefix}.public.created_later_too`, 13);
    const db = unique('late');
    const table = (load: OrdersLoad) => load.pg.topic.replace(/[^A-Za-z0-9_]/g, '_');
    await first.write(300);

    const transport = embeddedTransport();
    const options = {
      ...sinkOptions([`/^${prefix.replaceAll('.', '\\.')}\\./`]),
      deadLetterTopic: `${prefix}.dlq`,
      topicRefreshMs: 1_000,
    };
    const sink = new ClickHouseSink({
      kafka: testKafka(),
      registry,
      transport,
      tables: new TableManager(transport, db, testLogger),
      options,
      logger: testLogger,
    });
    await sink.start();
    const current = async (load: OrdersLoad) =>
      transport.query<{ id: number; customer: string }>(
        `SELECT id, customer FROM ${db}.${table(load)}_current ORDER BY id`,
      );
    // The history is ordered by (key, _version): a change inserted twice is two rows until a merge.
    const historyRows = async (load: OrdersLoad) => {
      const [r] = await transport.query<{ n: string }>(
        `SELECT count() AS n FROM ${db}.${table(load)}_history`,
      );
      return Number(r?.n);
    };
    try {
      await until('the first topic in ClickHouse', async () => sink.totals.records >= 300, 60_000);

      // The first topic keeps flowing while the new topics appear.
      let writing = true;
      const background = (async () => {
        while (writing) {
          await first.write(40);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const created = Date.now();
      await second.write(200);
      const seen = await until(
        'the rows of the topic created later',
        async () =>
          (await current(second).catch(() => [])).length === second.expected.size ? Date.now() : false,
        30_000,
      );
      const latencyMs = seen - created;
      // A second new topic after the first switch, for good measure.
      await third.write(100);
      await until(
        'the rows of the second topic created later',
        async () => (await current(third).catch(() => [])).length === third.expected.size,
        30_000,
      );
      writing = false;
      await background;

      const produced = first.produced + second.produced + third.produced;
      await until('every record through the sink', async () => sink.totals.records >= produced, 60_000);
      // Anything read twice would count twice.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(sink.totals.records).toBe(produced);
      expect(sink.totals.resubscriptions).toBeGreaterThanOrEqual(1);
      expect(latencyMs).toBeLessThan(15_000);
      for (const load of [first, second, third]) {
        expect((await current(load)).map((r) => ({ id: Number(r.id), customer: r.customer }))).toEqual(
          load.rows(),
        );
        expect(await historyRows(load)).toBe(load.produced);
      }
      process.stdout.write(
        `topic-created-later: rows of the new topic in ClickHouse ${latencyMs} ms after it was created (refresh 1 s); ${sink.totals.resubscriptions} switch(es), ${produced} records read once\n`,
      );
    } finally {
      await sink.stop();
    }
  });
});

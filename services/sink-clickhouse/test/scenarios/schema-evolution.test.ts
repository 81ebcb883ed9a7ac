/**
 * schema-evolution: a new nullable column becomes `ALTER TABLE … ADD COLUMN` before the batch
 * that needs it (older rows read NULL); a column dropped at the source is dropped from the table
 * under `droppedColumns: drop` (its history keeps it); an incompatible change (a column changing type) stops
 * that table with an error naming it, while another table in the same sink goes on; with the
 * dead-letter policy the incompatible records go to the dead-letter topic instead.
 */
import { describe, expect, it } from 'vitest';
import { TableManager } from '../../src/schema/tables.ts';
import { ClickHouseSink } from '../../src/sink.ts';
import {
  embeddedTransport,
  ordersRelation,
  PgTopic,
  produce,
  registry,
  runSinkUntil,
  sinkOptions,
  t,
  testKafka,
  testLogger,
  unique,
  until,
} from '../helpers.ts';

/** A record whose `customer` is an int: registered under another subject (the registry would refuse it under the topic's). */
async function incompatibleRecord(topic: string) {
  const pg = new PgTopic(topic, {
    ...ordersRelation(),
    columns: ordersRelation().columns.map((c) => (c.name === 'customer' ? { ...c, type: t('int4') } : c)),
  });
  pg.valueSubject = `${topic}-incompatible-value`;
  return pg.event('c', ['99', '42', '1.00', null]);
}

describe('schema-evolution', () => {
  it('adds a new nullable column before the batch that needs it', async () => {
    const topic = unique('it.evolve.orders');
    const db = unique('evolve');
    const pg = new PgTopic(topic, ordersRelation());
    const messages = [await pg.event('c', ['1', 'old', '1.00', null])];
    pg.evolve(ordersRelation([{ name: 'note', type: t('text'), typmod: -1, notNull: false, isKey: false }]));
    messages.push(await pg.event('c', ['2', 'new', '2.00', null, 'hello']));
    messages.push(await pg.event('u', ['1', 'old', '1.00', null, 'now set']));
    messages.push(await pg.event('c', ['3', 'new', '3.00', null, null]));
    await produce(topic, messages);
    await runSinkUntil(sinkOptions([topic]), db, messages.length);
    const table = topic.replace(/[^A-Za-z0-9_]/g, '_');
    expect(
      await embeddedTransport().query(`SELECT id, note FROM ${db}.${table}_current ORDER BY id`),
    ).toEqual([
      { id: 1, note: 'now set' },
      { id: 2, note: 'hello' },
      { id: 3, note: null },
    ]);
  });

  it('drops a column dropped at the source under droppedColumns: drop; the history keeps it', async () => {
    const topic = unique('it.evolve.dropped');
    const db = unique('evolve_drop');
    const note = { name: 'note', type: t('text'), typmod: -1, notNull: false, isKey: false };
    const pg = new PgTopic(topic, ordersRelation([note]));
    const messages = [await pg.event('c', ['1', 'a', '1.00', null, 'kept in the history'])];
    pg.evolve(ordersRelation());
    messages.push(await pg.event('c', ['2', 'b', '2.00', null]));
    await produce(topic, messages);
    await runSinkUntil(sinkOptions([topic]), db, messages.length, { droppedColumns: 'drop' });
    const table = topic.replace(/[^A-Za-z0-9_]/g, '_');
    const ch = embeddedTransport();
    expect(
      await ch.query(
        `SELECT name FROM system.columns WHERE database = '${db}' AND table = '${table}' AND name = 'note'`,
      ),
    ).toEqual([]);
    expect(await ch.query(`SELECT id FROM ${db}.${table}_current ORDER BY id`)).toEqual([
      { id: 1 },
      { id: 2 },
    ]);
    expect(await ch.query(`SELECT note FROM ${db}.${table}_history WHERE id = 1`)).toEqual([
      { note: 'kept in the history' },
    ]);
  });

  it('stops the table of an incompatible change with a clear error; other tables go on', async () => {
    const bad = unique('it.evolve.bad');
    const good = unique('it.evolve.good');
    const db = unique('evolve_stop');
    const pgBad = new PgTopic(bad, ordersRelation());
    const pgGood = new PgTopic(good, ordersRelation());
    await produce(bad, [
      await pgBad.event('c', ['1', 'a', '1.00', null]),
      await incompatibleRecord(bad),
      await pgBad.event('c', ['2', 'b', '1.00', null]),
    ]);
    await produce(good, [
      await pgGood.event('c', ['1', 'a', '1.00', null]),
      await pgGood.event('c', ['2', 'b', '1.00', null]),
    ]);

    const transport = embeddedTransport();
    const sink = new ClickHouseSink({
      kafka: testKafka(),
      registry,
      transport,
      tables: new TableManager(transport, db, testLogger),
      options: sinkOptions([bad, good]),
      logger: testLogger,
    });
    await sink.start();
    try {
      await until('the good table to be written', async () => {
        const rows = await transport.query<{ n: number }>(
          `SELECT count() AS n FROM ${db}.${good.replace(/\W/g, '_')}_current`,
        );
        return Number(rows[0]?.n) === 2;
      });
      const badTable = bad.replace(/\W/g, '_');
      await until('the bad table to stop', async () => sink.stoppedTables.has(badTable));
      expect(sink.stoppedTables.get(badTable)?.message).toMatch(
        /column customer would change type from Nullable\(String\) to Nullable\(Int32\)/,
      );
      // Nothing of the bad topic from the incompatible record on is written.
      expect(await transport.query(`SELECT id FROM ${db}.${badTable}_current ORDER BY id`)).toEqual([
        { id: 1 },
      ]);
    } finally {
      await sink.stop();
    }
  });

  it('dead-letters the incompatible records under the dead-letter policy', async () => {
    const topic = unique('it.evolve.dlq');
    const db = unique('evolve_dlq');
    const pg = new PgTopic(topic, ordersRelation());
    const messages = [
      await pg.event('c', ['1', 'a', '1.00', null]),
      await incompatibleRecord(topic),
      await pg.event('c', ['2', 'b', '1.00', null]),
    ];
    await produce(topic, messages);
    const sink = await runSinkUntil(
      sinkOptions([topic], { onIncompatibleSchema: 'dead-letter' }),
      db,
      messages.length,
    );
    expect(sink.totals.deadLettered).toBe(1);
    expect(
      await embeddedTransport().query(
        `SELECT id FROM ${db}.${topic.replace(/\W/g, '_')}_current ORDER BY id`,
      ),
    ).toEqual([{ id: 1 }, { id: 2 }]);
  });
});

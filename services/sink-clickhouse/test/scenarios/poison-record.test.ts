/**
 * poison-record: a record that is not Avro, and one whose value ClickHouse refuses (a UUID
 * column holding "not-a-uuid"), are isolated (the failing insert is split until they are
 * alone) and dead-lettered with the reason in headers; every other record is written.
 */
import { describe, expect, it } from 'vitest';
import {
  embeddedTransport,
  ordersRelation,
  PgTopic,
  produce,
  runSinkUntil,
  sinkOptions,
  t,
  testKafka,
  unique,
  until,
} from '../helpers.ts';

describe('poison-record', () => {
  it('dead-letters the poison records with the reason and writes the rest', async () => {
    const topic = unique('it.poison.orders');
    const db = unique('poison');
    const pg = new PgTopic(
      topic,
      ordersRelation([{ name: 'ref', type: t('uuid'), typmod: -1, notNull: false, isKey: false }]),
    );
    const messages = [];
    for (let id = 1; id <= 40; id++)
      messages.push(
        await pg.event('c', [String(id), `c${id}`, '1.00', null, '0e6f1a52-55f8-4f0c-9a27-4bb5cf4f0b61']),
      );
    // The uuid logical type is only an annotation in Avro: the capture could write anything there.
    (pg.rs.columns.find((c) => c.field === 'ref')!.mapping as { fromText: (s: string) => unknown }).fromText =
      (s) => s;
    messages.splice(17, 0, await pg.event('c', ['1000', 'bad uuid', '1.00', null, 'not-a-uuid']));
    messages.splice(5, 0, { key: Buffer.from('k'), value: Buffer.from('this is not avro') });
    await produce(topic, messages);
    const options = sinkOptions([topic]);
    await runSinkUntil(options, db, messages.length);

    const rows = await embeddedTransport().query<{ n: number }>(
      `SELECT count() AS n FROM ${db}.${topic.replace(/\W/g, '_')}_current`,
    );
    expect(Number(rows[0]?.n)).toBe(40);

    const consumer = testKafka().consumer({ groupId: unique('dlq-reader') });
    const letters: { offset: string; code: string; reason: string }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [options.deadLetterTopic], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const h = (n: string) => String(message.headers?.[n] ?? '');
          letters.push({ offset: h('cdc.dlq.offset'), code: h('cdc.dlq.code'), reason: h('cdc.dlq.reason') });
        },
      });
      await until('two dead letters', async () => letters.length >= 2, 30_000);
    } finally {
      await consumer.disconnect();
    }
    letters.sort((a, b) => Number(a.offset) - Number(b.offset));
    expect(letters).toHaveLength(2);
    expect(letters[0]).toMatchObject({ offset: '5', code: 'SERDE_FAILED' });
    expect(letters[1]).toMatchObject({ offset: '18', code: 'SINK_REJECTED' });
    expect(letters[1]!.reason).toMatch(/Cannot parse UUID/);
  });
});

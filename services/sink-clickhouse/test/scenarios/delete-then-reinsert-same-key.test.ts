/**
 * delete-then-reinsert-same-key: a key deleted and inserted again is present with its new
 * values; a key only deleted is gone; all three changes stay in the history.
 */
import { describe, expect, it } from 'vitest';
import {
  embeddedTransport,
  ordersRelation,
  PgTopic,
  produce,
  runSinkUntil,
  sinkOptions,
  unique,
} from '../helpers.ts';

describe('delete-then-reinsert-same-key', () => {
  it('shows the re-inserted row and hides the deleted one', async () => {
    const topic = unique('it.reinsert.orders');
    const db = unique('reins');
    const pg = new PgTopic(topic, ordersRelation());
    const messages = [
      await pg.event('c', ['1', 'first', '1.00', null]),
      await pg.event('c', ['2', 'two', '2.00', null]),
      await pg.event('d', ['1', null, null, null]),
      await pg.event('d', ['2', null, null, null]),
      await pg.event('c', ['1', 'second life', '9.99', '2024-05-01 12:00:00.123456+00']),
    ];
    await produce(topic, messages);
    // One record per batch as well as all in one: the order must not depend on batching.
    await runSinkUntil(sinkOptions([topic], { batch: { maxRows: 1, maxWaitMs: 50 } }), db, messages.length);

    const table = topic.replace(/[^A-Za-z0-9_]/g, '_');
    const ch = embeddedTransport();
    expect(
      await ch.query(
        `SELECT id, customer, toString(amount) AS amount, toString(created) AS created, _op FROM ${db}.${table}_current`,
      ),
    ).toEqual([
      { id: 1, customer: 'second life', amount: '9.99', created: '2024-05-01 12:00:00.123456', _op: 'c' },
    ]);
    const history = await ch.query<{ ops: string[] }>(
      `SELECT groupArray(_op) AS ops FROM (SELECT _op FROM ${db}.${table}_history FINAL WHERE id = 1 ORDER BY _version)`,
    );
    expect(history).toEqual([{ ops: ['c', 'd', 'c'] }]);
  });
});

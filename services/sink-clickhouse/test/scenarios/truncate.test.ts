/**
 * truncate: a TRUNCATE empties the table's current state; rows written after it (new keys,
 * and keys that existed before) are there, and the history keeps everything.
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

describe('truncate', () => {
  it('empties the current state; later changes show, the history keeps all', async () => {
    const topic = unique('it.truncate.orders');
    const db = unique('trunc');
    const pg = new PgTopic(topic, ordersRelation());
    const messages = [];
    for (let id = 1; id <= 5; id++) messages.push(await pg.event('c', [String(id), `c${id}`, '1.00', null]));
    messages.push(await pg.event('t', null));
    messages.push(await pg.event('c', ['3', 'c3 again', '3.00', null]));
    messages.push(await pg.event('c', ['6', 'c6', '6.00', null]));
    await produce(topic, messages);
    await runSinkUntil(sinkOptions([topic]), db, messages.length);

    const table = topic.replace(/[^A-Za-z0-9_]/g, '_');
    const ch = embeddedTransport();
    const current = await ch.query<{ id: number; customer: string }>(
      `SELECT id, customer FROM ${db}.${table}_current ORDER BY id`,
    );
    expect(current).toEqual([
      { id: 3, customer: 'c3 again' },
      { id: 6, customer: 'c6' },
    ]);
    const history = await ch.query<{ n: number }>(`SELECT count() AS n FROM ${db}.${table}_history FINAL`);
    expect(Number(history[0]?.n)).toBe(7);
  });
});

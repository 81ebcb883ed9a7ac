/**
 * replay-twice: consuming the same CDC topic twice (a second consumer group reads it from the
 * beginning into the same tables) gives the same current state, and the deduplicated views
 * gain no rows: versions come from the source position, not from when the sink ran.
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

describe('replay-twice', () => {
  it('gives the same current state and no extra rows when the topic is consumed again', async () => {
    const topic = unique('it.replay.orders');
    const db = unique('replay');
    const pg = new PgTopic(topic, ordersRelation());
    const messages = [];
    const expected = new Map<number, { customer: string; amount: string }>();
    for (let id = 1; id <= 100; id++) {
      messages.push(await pg.event('c', [String(id), `c${id}`, `${id}.50`, '2024-03-01 10:00:00+00']));
      expected.set(id, { customer: `c${id}`, amount: `${id}.50` });
    }
    for (let id = 1; id <= 50; id++) {
      messages.push(await pg.event('u', [String(id), `c${id} v2`, `${id * 2}.00`, '2024-03-02 10:00:00+00']));
      expected.set(id, { customer: `c${id} v2`, amount: `${id * 2}.00` });
    }
    for (let id = 1; id <= 10; id++) {
      messages.push(await pg.event('d', [String(id), null, null, null]));
      expected.delete(id);
    }
    await produce(topic, messages);
    const table = topic.replace(/[^A-Za-z0-9_]/g, '_');
    const ch = embeddedTransport();
    const state = async () =>
      ch.query<{ id: number; customer: string; amount: string }>(
        `SELECT id, customer, toString(amount) AS amount FROM ${db}.${table}_current ORDER BY id`,
      );
    const want = [...expected].map(([id, v]) => ({
      id,
      customer: v.customer,
      amount: v.amount.replace(/\.?0+$/, ''),
    }));

    await runSinkUntil(sinkOptions([topic]), db, messages.length);
    const first = await state();
    expect(first.map((r) => ({ ...r, id: Number(r.id) }))).toEqual(want);
    const finalCount = async () =>
      (await ch.query<{ n: string }>(`SELECT count() AS n FROM ${db}.${table} FINAL`))[0]?.n;
    const historyCount = async () =>
      (await ch.query<{ n: string }>(`SELECT count() AS n FROM ${db}.${table}_history FINAL`))[0]?.n;
    const countsAfterFirst = { final: await finalCount(), history: await historyCount() };
    expect(Number(countsAfterFirst.history)).toBe(messages.length);

    await runSinkUntil(sinkOptions([topic]), db, messages.length);
    expect(await state()).toEqual(first);
    expect({ final: await finalCount(), history: await historyCount() }).toEqual(countsAfterFirst);
  });
});

/**
 * resync: a `resync` signal makes the MongoDB capture read documents of a collection again and
 * write them into the collection's topic like any change (`op: 'r'`, `snapshot: 'incremental'`),
 * between two change events: a list of `_id`s (one the collection no longer holds becomes a
 * delete), an `_id` range, or the whole collection. A document updated again and again while it
 * is resynced ends, in the topic, with its latest value: a re-read never undoes a newer change.
 * A malformed request is ignored and the capture goes on. Each resync reports its progress as
 * the collection's snapshot progress (the console's bar), ending at done = estimated. On both
 * MongoDB-compatible servers.
 */
import { noopObserver, sendSignal } from '@cdc/capture';
import { systemClock } from '@cdc/core';
import { createIdempotentProducer } from '@cdc/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { MongoCapture } from '../../src/capture.ts';
import {
  type Consumed,
  cleanup,
  consume,
  kafkaClient,
  mongoClient,
  newSerde,
  type Scenario,
  SERVERS,
  scenario,
  testLogger,
  unwrap,
  waitFor,
} from './harness.ts';

const made: { s: Scenario; signalTopic: string }[] = [];

afterAll(async () => {
  for (const { s, signalTopic } of made) await cleanup(s, ['docs'], [signalTopic]);
});

/** The document's `v` (unions are written wrapped: `{ int: 2 }`). */
const vOf = (r: Consumed | undefined) => unwrap<number>((r?.value?.after as { v?: unknown } | null)?.v);
const id = (n: number) => `{"$numberInt":"${n}"}`;
/** The last record of each key, in offset order (a key's records share a partition). */
function lastByKey(records: readonly Consumed[]): Map<string, Consumed> {
  const out = new Map<string, Consumed>();
  for (const r of [...records].sort(
    (a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
  ))
    if (r.key) out.set(r.key.id, r);
  return out;
}

describe.each(SERVERS)('resync of a MongoDB collection ($name)', (server) => {
  it('re-reads listed keys (deleting those gone), a range and the whole collection, never undoing a newer change', async () => {
    const s = scenario('resync21', server);
    const signalTopic = `__${s.name}.signals`;
    made.push({ s, signalTopic });
    const logger = testLogger();
    const mongo = mongoClient(server.url);
    await mongo.connect();
    const docs = mongo.db(s.db).collection<{ _id: number; v: number }>('docs');
    await docs.insertMany([1, 2, 3, 4, 5].map((i) => ({ _id: i, v: 0 })));
    const kafka = kafkaClient(logger);
    const admin = kafka.admin();
    const producer = createIdempotentProducer(kafka);
    const progress: [string, number, number][] = [];
    const capture = new MongoCapture({
      observer: {
        ...noopObserver,
        snapshotProgress: (t, done, estimated) => progress.push([t, done, estimated]),
      },
      source: s.source(),
      kafka,
      admin,
      serde: newSerde(),
      logger,
      clock: systemClock,
      signalTopic,
    });
    const stop = new AbortController();
    const running = admin.connect().then(() => capture.run(stop.signal));
    const topic = s.topicOf('docs');
    const resync = (extra: { keys?: string[][]; from?: string[]; to?: string[] }) =>
      sendSignal(producer, signalTopic, {
        type: 'resync',
        source: s.name,
        table: `${s.db}.docs`,
        actor: 'test',
        ...extra,
      });
    try {
      await producer.connect();
      await consume([topic], { expected: 5, timeoutMs: 60_000, settleMs: 0 });
      await waitFor('streaming', 60_000, () => capture.stats !== undefined);
      await docs.updateOne({ _id: 2 }, { $set: { v: 2 } });
      await docs.deleteOne({ _id: 3 });

      // Listed keys: 2 is read again with its updated value, 3 and 99 (never existed) are deleted.
      // A malformed request before it is ignored.
      await resync({ keys: [['not extended json']] });
      await resync({ keys: [[id(2)], [id(3)], [id(99)]] });
      let all = await consume([topic], { expected: 10, timeoutMs: 60_000, settleMs: 1_000 });
      const listed = all.filter((r) => r.value?.source.snapshot === 'incremental');
      expect(listed.map((r) => [r.key?.id, r.value?.op, vOf(r)]).sort()).toEqual([
        [id(2), 'r', 2],
        [id(3), 'd', null],
        [id(99), 'd', null],
      ]);
      expect(String(listed[0]?.value?.source.resumeToken)).toMatch(/^resync:/);
      expect(all.length).toBe(10);
      expect(progress.at(-1)).toEqual([`${s.db}.docs`, 3, 3]);

      // A range: 4 and 5.
      await resync({ from: [id(4)], to: [id(5)] });
      all = await consume([topic], { expected: 12, timeoutMs: 60_000, settleMs: 1_000 });
      expect(all.length).toBe(12);
      expect(
        all
          .slice()
          .sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
          .filter((r) => r.value?.op === 'r' && r.value.source.snapshot === 'incremental')
          .map((r) => r.key?.id)
          .sort(),
      ).toEqual([id(2), id(4), id(5)].sort());
      expect(progress.at(-1)).toEqual([`${s.db}.docs`, 2, 2]);

      // The whole collection while document 1 is updated 200 times: its last record holds v = 200.
      const writes = (async () => {
        for (let v = 1; v <= 200; v++) await docs.updateOne({ _id: 1 }, { $set: { v } });
      })();
      await resync({});
      await resync({ keys: [[id(1)]] });
      await writes;
      await resync({ keys: [[id(1)]] });
      all = await consume([topic], {
        expected: 12 + 200 + 4 + 2,
        timeoutMs: 90_000,
        settleMs: 1_500,
      });
      expect(all.length).toBe(12 + 200 + 4 + 2);
      const last = lastByKey(all);
      expect(vOf(last.get(id(1)))).toBe(200);
      // The whole collection (4 documents then) was reported to its end.
      expect(progress).toContainEqual([`${s.db}.docs`, 4, 4]);
      // Key 1's last record is the final resync or an update the stream delivered after it.
      expect(
        [...last.entries()]
          .filter(([k]) => k !== id(1))
          .map(([k, r]) => [k, r.value?.op])
          .sort(),
      ).toEqual(
        [
          [id(2), 'r'],
          [id(3), 'd'],
          [id(4), 'r'],
          [id(5), 'r'],
          [id(99), 'd'],
        ].sort(),
      );
      // Every change id is unique (the resync's derive from the signal id and the _id).
      expect(new Set(all.map((r) => r.value?.changeId)).size).toBe(all.length);
    } finally {
      stop.abort();
      await running.catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      await mongo.close();
    }
  }, 240_000);
});

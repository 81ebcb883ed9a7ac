/**
 * pause-resume-mongo: the control API pauses and resumes a MongoDB collection. The capture reads
 * the command from the signal topic and applies it where its streaming loop picks it up: after
 * the pause nothing of the collection reaches its topic while another collection flows; after
 * resume every held change arrives once, in order. A resync through the API re-reads the
 * collection: its current documents arrive as reads after everything else.
 */
import { heldTopic } from '@cdc/capture';
import { systemClock } from '@cdc/core';
import { PipelineSchema } from '@cdc/pipeline';
import { afterAll, describe, expect, it } from 'vitest';
import { MongoCapture } from '../../../capture-mongo/src/capture.ts';
import {
  cleanup,
  consume,
  endpoints,
  kafkaClient,
  mongoClient,
  newSerde,
  SERVERS,
  scenario,
  testLogger,
  uniqueName,
  waitFor,
} from '../../../capture-mongo/test/scenarios/harness.ts';
import { tokenHash } from '../../src/tokens.ts';
import { startControl } from './control-server.ts';

const server = SERVERS[0] as (typeof SERVERS)[number];
const s = scenario('ctlm18', server);
const signalTopic = `__${s.name}.signals`;
const auditTopic = `${s.name}.audit`;
const OPERATOR = uniqueName('operator-token');

afterAll(async () => {
  await cleanup(s, ['held', 'flowing'], [heldTopic(s.prefix), signalTopic, auditTopic]);
});

describe('pause-resume of a MongoDB collection through the control API', () => {
  it('holds the collection while paused and releases every change once, in order, on resume', async () => {
    const logger = testLogger();
    const mongo = mongoClient(server.url);
    await mongo.connect();
    const db = mongo.db(s.db);
    await db
      .collection<{ _id: number; v: number }>('held')
      .insertMany([1, 2, 3].map((i) => ({ _id: i, v: 0 })));
    await db.collection<{ _id: number; v: number }>('flowing').insertOne({ _id: 1, v: 0 });
    const source = s.source();
    const pipeline = PipelineSchema.parse({
      kafka: { brokers: endpoints.kafka.brokers },
      registry: { url: endpoints.registry.url },
      sources: { mongo: [source] },
      control: {
        port: 0,
        signalTopic,
        auditTopic,
        tokens: [{ name: 'otto', role: 'operator', sha256: tokenHash(OPERATOR) }],
      },
    });
    const ctl = await startControl({
      pipeline,
      kafka: kafkaClient(logger),
      serde: newSerde(),
      logger,
      services: [],
      stateDirPrefix: 'ctlm18-',
    });
    const { url } = ctl;
    const call = async (path: string) => {
      const r = await fetch(new URL(path, url), {
        method: 'POST',
        headers: { authorization: `Bearer ${OPERATOR}` },
      });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const stateOf = async (collection: string) => {
      const r = await fetch(new URL('/api/tables', url), {
        headers: { authorization: `Bearer ${OPERATOR}` },
      });
      const rows = (await r.json()) as { table: string; state: string }[];
      return rows.find((t) => t.table === `${s.db}.${collection}`)?.state;
    };
    const capKafka = kafkaClient(logger);
    const capAdmin = capKafka.admin();
    const stop = new AbortController();
    const capture = new MongoCapture({
      source,
      kafka: capKafka,
      admin: capAdmin,
      serde: newSerde(),
      logger,
      clock: systemClock,
      signalTopic,
    });
    const running = capAdmin.connect().then(() => capture.run(stop.signal));
    try {
      await consume([s.topicOf('held')], { expected: 3, timeoutMs: 60_000, settleMs: 0 });
      await waitFor('streaming', 60_000, () => capture.stats !== undefined);

      expect((await call(`/api/tables/${s.name}/${s.db}.held/pause`)).status).toBe(200);
      await waitFor('collection paused', 60_000, async () => (await stateOf('held')) === 'paused');
      await db
        .collection<{ _id: number; v: number }>('held')
        .insertMany([4, 5].map((i) => ({ _id: i, v: 0 })));
      await db.collection<{ _id: number; v: number }>('held').updateOne({ _id: 1 }, { $set: { v: 1 } });
      await db.collection<{ _id: number; v: number }>('held').deleteOne({ _id: 2 });
      await db.collection<{ _id: number; v: number }>('flowing').insertOne({ _id: 2, v: 0 });
      await consume([s.topicOf('flowing')], { expected: 2, timeoutMs: 60_000, settleMs: 0 });
      const during = await consume([s.topicOf('held')], { expected: 4, timeoutMs: 3_000, settleMs: 0 });
      expect(during.length).toBe(3);

      expect((await call(`/api/tables/${s.name}/${s.db}.held/resume`)).status).toBe(200);
      const after = await consume([s.topicOf('held')], { expected: 7, timeoutMs: 60_000, settleMs: 2_000 });
      expect(after.length).toBe(7);
      const ids = after.map((r) => r.value?.changeId);
      expect(new Set(ids).size).toBe(ids.length);
      // Per key (a key's changes share a partition), in offset order: what happened while paused.
      const byKey = new Map<string, string[]>();
      for (const r of after.sort(
        (a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
      ))
        byKey.set(JSON.stringify(r.key), [...(byKey.get(JSON.stringify(r.key)) ?? []), r.value?.op ?? '?']);
      expect([...byKey.values()].map((ops) => ops.join(',')).sort()).toEqual(['c', 'c', 'r', 'r,d', 'r,u']);
      await waitFor('flowing again', 30_000, async () => (await stateOf('held')) !== 'paused');

      // A resync of the collection: its four documents (1, 3, 4, 5) again, as reads.
      expect((await call(`/api/tables/${s.name}/${s.db}.held/resync`)).status).toBe(200);
      const resynced = await consume([s.topicOf('held')], {
        expected: 11,
        timeoutMs: 60_000,
        settleMs: 2_000,
      });
      expect(resynced.length).toBe(11);
      expect(
        resynced
          .filter((r) => r.value?.source.snapshot === 'incremental')
          .map((r) => r.key?.id)
          .sort(),
      ).toEqual([1, 3, 4, 5].map((i) => `{"$numberInt":"${i}"}`).sort());
    } finally {
      stop.abort();
      await running.catch(() => undefined);
      await capAdmin.disconnect();
      await ctl.close();
      await mongo.close();
    }
  });
});

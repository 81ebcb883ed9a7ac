/**
 * Collection-level events and their documented reaction: a dropped collection gets a truncate
 * (`op: 't'`) in every partition of its topic, after its earlier changes; a collection that is
 * created again is captured again. A rename truncates the old name's topic; the documents
 * appear under the new name with their next change. A collection-scoped stream that the server
 * invalidates (SecantusDB, as MongoDB) is reopened after the invalidate token, so changes after
 * it still arrive; mongo-java-server sends no invalidate and its stream stays open.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  consume,
  mongoClient,
  runCapture,
  SERVERS,
  type ServerCase,
  scenario,
  waitStreaming,
} from './harness.ts';

const CASES: { server: ServerCase; changeStreams: 'deployment' | 'collection' }[] = [
  { server: SERVERS[0]!, changeStreams: 'deployment' },
  { server: SERVERS[0]!, changeStreams: 'collection' },
  { server: SERVERS[1]!, changeStreams: 'collection' },
];

describe.each(CASES)(
  'drop-rename-invalidate on $server.name ($changeStreams streams)',
  ({ server, changeStreams }) => {
    const s = scenario('drop', server);
    const client = mongoClient(server.url);
    afterAll(async () => {
      await cleanup(s, ['gone', 'old', 'new'], [`${s.offsetsTopic}2`]);
      await client.close();
    });

    it('writes a truncate for a dropped collection and captures it again when it comes back', {
      timeout: 90_000,
    }, async () => {
      await client.connect();
      const db = client.db(s.db);
      const gone = db.collection<{ _id: string; [k: string]: unknown }>('gone');
      await gone.insertOne({ _id: 'seed' });
      const run = runCapture(s.source({ snapshot: 'never', changeStreams }));
      try {
        await waitStreaming(run.capture);
        await gone.insertOne({ _id: 'a', v: 1 });
        await gone.drop();
        await new Promise((r) => setTimeout(r, 1000)); // the stream reopens after an invalidate
        await gone.insertOne({ _id: 'b', v: 2 });
        const topic = s.topicOf('gone');
        const got = await consume([topic], { expected: 4, timeoutMs: 30_000 });
        // insert a, then a truncate in each of the two partitions, then insert b.
        expect(got.map((r) => r.value!.op).sort()).toEqual(['c', 'c', 't', 't']);
        expect(new Set(got.filter((r) => r.value!.op === 't').map((r) => r.partition))).toEqual(
          new Set([0, 1]),
        );
        const truncates = got.filter((r) => r.value!.op === 't');
        for (const t of truncates) {
          const a = got.find((r) => r.partition === t.partition && r.key?.id === '"a"');
          if (a) expect(Number(a.offset)).toBeLessThan(Number(t.offset));
          const b = got.find((r) => r.partition === t.partition && r.key?.id === '"b"');
          if (b) expect(Number(b.offset)).toBeGreaterThan(Number(t.offset));
        }
      } finally {
        await run.stop();
      }
    });

    it('truncates a renamed collection and captures the new name from its next change', {
      timeout: 90_000,
    }, async () => {
      const db = client.db(s.db);
      const old = db.collection<{ _id: string; [k: string]: unknown }>('old');
      await old.insertOne({ _id: 'x', v: 1 });
      if (changeStreams === 'collection') await db.createCollection('new').catch(() => undefined);
      const run = runCapture(
        s.source({ snapshot: 'never', changeStreams, offsetsTopic: `${s.offsetsTopic}2` }),
      );
      try {
        await waitStreaming(run.capture);
        await old.insertOne({ _id: 'y', v: 2 });
        if (changeStreams === 'collection') await db.collection('new').drop();
        const renamed = await old.rename('new').then(
          () => true,
          (err: Error) => err,
        );
        if (renamed !== true) {
          // mongo-java-server has no renameCollection.
          expect(server.name).toBe('mongo-java-server');
          expect(String(renamed)).toMatch(/renameCollection|no such command/i);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
        await db
          .collection<{ _id: string; [k: string]: unknown }>('new')
          .updateOne({ _id: 'x' }, { $set: { v: 3 } });
        const got = await consume([s.topicOf('old')], { expected: 3, timeoutMs: 30_000 });
        expect(got.map((r) => r.value!.op).sort()).toEqual(['c', 't', 't']);
        if (changeStreams === 'deployment') {
          const moved = await consume([s.topicOf('new')], { expected: 1, timeoutMs: 30_000 });
          expect(moved.map((r) => `${r.key!.id}:${r.value!.op}`)).toEqual(['"x":u']);
        }
      } finally {
        await run.stop();
      }
    });
  },
);

/**
 * pre-images: a collection created with `changeStreamPreAndPostImages: { enabled: true }`,
 * captured with `fullDocumentBeforeChange: whenAvailable`. On SecantusDB every update and
 * delete carries `before` = the document as it was just before that change (the pre-image),
 * and `after` = the looked-up document (`updateLookup`). mongo-java-server accepts the
 * collection option and the stream option but ignores them: `before` is null on every change,
 * which the capture passes on as is (no error, no invented image).
 *
 * Post-images: neither test server stores them (see the second test), so an update read after
 * its document was deleted has no after image on either and becomes a dead letter.
 */
import { BSON, Int32 } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  consume,
  mongoClient,
  runCapture,
  SERVERS,
  scenario,
  waitFor,
  waitStreaming,
} from './harness.ts';

const { EJSON } = BSON;

interface Doc {
  _id: string;
  n: Int32;
  tag?: string;
}

describe.each(SERVERS)('pre-images on $name', (server) => {
  const s = scenario('preimg', server);
  const client = mongoClient(server.url);
  /** The pre-image where the server keeps them, else null. */
  const pre = <T>(image: T) => (server.preImages ? image : null);
  afterAll(async () => {
    await cleanup(s, ['items', 'burst']);
    await client.close();
  });

  it(server.preImages
    ? 'writes the pre-image of every update and delete as before'
    : 'ignores the pre-image option: before is null on every change', { timeout: 60_000 }, async () => {
    await client.connect();
    const db = client.db(s.db);
    await db.createCollection('items', { changeStreamPreAndPostImages: { enabled: true } });
    const coll = db.collection<Doc>('items');
    const run = runCapture(s.source({ snapshot: 'never', fullDocumentBeforeChange: 'whenAvailable' }));
    try {
      await waitStreaming(run.capture);
      // One change at a time, each written before the next: `updateLookup` reads the document
      // when the event is read, so the after image is then the state right after the change.
      const ops = [
        () => coll.insertOne({ _id: 'a', n: new Int32(1), tag: 'first' }),
        () => coll.insertOne({ _id: 'b', n: new Int32(10) }),
        () => coll.updateOne({ _id: 'a' }, { $set: { n: new Int32(2) }, $unset: { tag: '' } }),
        () => coll.updateOne({ _id: 'a' }, { $set: { n: new Int32(3) } }),
        () => coll.replaceOne({ _id: 'b' }, { n: new Int32(20), tag: 'replaced' }),
        () => coll.deleteOne({ _id: 'a' }),
      ];
      for (const [i, op] of ops.entries()) {
        await op();
        await waitFor(`change ${i + 1} written`, 10_000, () => (run.capture.stats?.changes ?? 0) > i);
      }

      const records = await consume([s.topicOf('items')], { expected: 6, timeoutMs: 30_000 });
      const changes = records
        .map((r) => ({ id: r.key!.id, ...r.value! }))
        .sort((x, y) => (x.id === y.id ? 0 : x.id < y.id ? -1 : 1)); // stable: partition order per _id
      const view = changes.map((c) => ({
        id: c.id,
        op: c.op,
        before: c.before === null ? null : plain(c.before),
        after: c.after === null ? null : plain(c.after),
      }));
      const A = '"a"';
      const B = '"b"';
      expect(view).toEqual([
        { id: A, op: 'c', before: null, after: { _id: 'a', n: 1, tag: 'first' } },
        {
          id: A,
          op: 'u',
          before: pre({ _id: 'a', n: 1, tag: 'first' }),
          after: { _id: 'a', n: 2, tag: null },
        },
        { id: A, op: 'u', before: pre({ _id: 'a', n: 2, tag: null }), after: { _id: 'a', n: 3, tag: null } },
        { id: A, op: 'd', before: pre({ _id: 'a', n: 3, tag: null }), after: null },
        { id: B, op: 'c', before: null, after: { _id: 'b', n: 10, tag: null } },
        {
          id: B,
          op: 'u',
          before: pre({ _id: 'b', n: 10, tag: null }),
          after: { _id: 'b', n: 20, tag: 'replaced' },
        },
      ]);
    } finally {
      await run.stop();
    }
  });

  // Neither server stores post-images: SecantusDB answers `fullDocument: whenAvailable` with
  // the document as it is when the event is read (null once deleted; `required` then fails the
  // stream), mongo-java-server ignores the option (a lookup). Shown here with every event read
  // after the document is gone; the pre-images survive on SecantusDB.
  it('fullDocument whenAvailable: an update read after its document was deleted is a dead letter (no stored post-image)', {
    timeout: 60_000,
  }, async () => {
    await client.connect();
    const db = client.db(s.db);
    await db.createCollection('burst', { changeStreamPreAndPostImages: { enabled: true } });
    const coll = db.collection<Doc>('burst');
    const source = s.source({
      name: `${s.name}_post`,
      offsetsTopic: s.offsetsTopic,
      topicPrefix: s.prefix,
      snapshot: 'never',
      include: [`${s.db}.burst`],
      fullDocument: 'whenAvailable',
      fullDocumentBeforeChange: 'whenAvailable',
    });
    // The first run stores the start point; the changes happen while the capture is stopped,
    // so that every event is read after the document is gone.
    let run = runCapture(source);
    await waitStreaming(run.capture);
    await run.stop();
    await coll.insertOne({ _id: 'a', n: new Int32(1) });
    await coll.updateOne({ _id: 'a' }, { $set: { n: new Int32(2) } });
    await coll.updateOne({ _id: 'a' }, { $set: { n: new Int32(3) } });
    await coll.deleteOne({ _id: 'a' });
    run = runCapture(source);
    try {
      const records = await consume([s.topicOf('burst'), s.deadLetterTopic], {
        expected: 4,
        timeoutMs: 30_000,
      });
      const changes = records
        .filter((r) => r.topic === s.topicOf('burst'))
        .map((r) => ({
          op: r.value!.op,
          before: r.value!.before === null ? null : plain(r.value!.before),
          after: r.value!.after === null ? null : plain(r.value!.after),
        }));
      const dead = records.filter((r) => r.topic === s.deadLetterTopic);
      const images = dead.map((d) => JSON.parse(d.raw!.toString()) as { before?: string });
      expect(changes).toEqual([
        { op: 'c', before: null, after: { _id: 'a', n: 1 } },
        { op: 'd', before: pre({ _id: 'a', n: 3 }), after: null },
      ]);
      expect(dead).toHaveLength(2);
      if (server.preImages) {
        // Dead letters naming the missing after image, with the pre-image kept in the payload.
        for (const d of dead) expect(d.headers['cdc.error.message']).toMatch(/has no after image/);
        expect(images.map((i) => EJSON.parse(i.before!, { relaxed: true }))).toEqual(
          expect.arrayContaining([
            { _id: 'a', n: 1 },
            { _id: 'a', n: 2 },
          ]),
        );
      } else {
        // mongo-java-server's documentKey holds the update's operators: no _id at all.
        for (const d of dead) expect(d.headers['cdc.error.message']).toMatch(/carries no _id/);
        expect(images.every((i) => i.before === undefined)).toBe(true);
      }
    } finally {
      await run.stop();
    }
  });
});

/** An image as plain values: unwraps the inferred schema's wrapped unions. */
function plain(doc: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, leaf(v)]));
}

function leaf(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const entries = Object.entries(v as Record<string, unknown>);
  return entries.length === 1 ? leaf(entries[0]![1]) : v;
}

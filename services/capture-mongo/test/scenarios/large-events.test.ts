/**
 * large-events: a document grown past 16 MB with pre-images on. On SecantusDB (which has
 * `$changeStreamSplitLargeEvent`) the update's change event (pre-image + looked-up document +
 * update description, ~28 MB) arrives in fragments that the capture puts back together: the
 * topic gets the whole change, `before` and `after` complete. mongo-java-server has no such stage
 * (the capture opens its stream without it) and keeps no pre-images; its events arrive whole,
 * and with `maxRecordBytes` at 8 MiB each change of the 9 MB document becomes a dead letter
 * naming the document and the limit while the collection goes on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  consume,
  mongoClient,
  recordingLogger,
  runCapture,
  SERVERS,
  scenario,
  unwrap,
  waitStreaming,
} from './harness.ts';

const MB = 1024 * 1024;

describe.each(SERVERS)('large events on $name', (server) => {
  const s = scenario('large20', server);
  const client = mongoClient(server.url);
  afterAll(async () => {
    await cleanup(s, ['docs']);
    await client.close();
  });

  it(server.preImages
    ? 'splits an event over 16 MB into fragments and writes it whole'
    : 'dead-letters an event over maxRecordBytes, naming the document and the limit', {
    timeout: 120_000,
  }, async () => {
    await client.connect();
    const db = client.db(s.db);
    await db.createCollection('docs', { changeStreamPreAndPostImages: { enabled: true } });
    const coll = db.collection<{ _id: string; pad: string; n?: number }>('docs');
    const { logger, lines } = recordingLogger();
    const run = runCapture(
      s.source({
        snapshot: 'never',
        fullDocumentBeforeChange: 'whenAvailable',
        ...(server.preImages ? {} : { maxRecordBytes: 8 * MB }),
      }),
      logger,
    );
    try {
      await waitStreaming(run.capture);
      const old = 'o'.repeat(9 * MB);
      const grown = 'g'.repeat(9 * MB);
      await coll.insertOne({ _id: 'big', pad: old });
      await coll.updateOne({ _id: 'big' }, { $set: { pad: grown } });
      await coll.insertOne({ _id: 'next', pad: 'small', n: 1 });
      const records = await consume([s.topicOf('docs'), s.deadLetterTopic], {
        expected: 3,
        timeoutMs: 90_000,
      });
      const changes = records.filter((r) => r.topic === s.topicOf('docs'));
      const dead = records.filter((r) => r.topic === s.deadLetterTopic);
      const pad = (doc: Record<string, unknown> | null) => unwrap<string>(doc?.pad);
      if (server.preImages) {
        expect(dead).toEqual([]);
        const update = changes.find((c) => c.value?.op === 'u');
        expect(update, 'the update arrived').toBeDefined();
        expect(pad(update!.value!.before)).toBe(old);
        expect(pad(update!.value!.after)).toBe(grown);
        expect(update!.raw!.length).toBeGreaterThan(16 * MB);
        expect(lines.some((l) => /arrived in fragments, put back together/.test(l.msg))).toBe(true);
      } else {
        // mongo-java-server neither splits events nor refuses large ones, and keeps no
        // pre-images: both changes of the 9 MB document are over the 8 MiB limit, the small
        // insert after them is written.
        expect(changes.map((c) => [c.value?.op, c.key?.id])).toEqual([['c', '"next"']]);
        expect(dead).toHaveLength(2);
        expect(lines.some((l) => /cannot split change events over 16 MB/.test(l.msg))).toBe(true);
        for (const d of dead)
          expect(d.headers['cdc.error.message']).toMatch(
            /docs: the change of _id "big" is \d+ bytes as Avro, more than maxRecordBytes \(8388608\); it is dead-lettered and the collection goes on/,
          );
      }
    } finally {
      await run.stop();
    }
  });
});

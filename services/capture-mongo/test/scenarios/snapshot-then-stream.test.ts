/**
 * The initial snapshot hands over to the stream cleanly: the stream's start point is taken
 * before the scan, two collections are scanned in parallel in batches while a writer updates,
 * inserts and deletes, and the capture is stopped mid-snapshot and started again (it finishes
 * the same snapshot: same id, reading each collection on after the last `_id` the first run
 * committed, so nothing is read twice). A read_committed consumer that replays each `_id` in
 * offset order ends with exactly the documents the server has, has each snapshot read once, and
 * each streamed change once.
 */
import { Int32 } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Consumed,
  cleanup,
  consume,
  mongoClient,
  runCapture,
  SERVERS,
  scenario,
  waitFor,
  waitStreaming,
} from './harness.ts';

const PER_COLLECTION = 1500;
const COLLECTIONS = ['alpha', 'beta'];

describe.each(SERVERS)('snapshot-then-stream on $name', (server) => {
  const s = scenario('snap', server);
  const client = mongoClient(server.url);
  afterAll(async () => {
    await cleanup(s, COLLECTIONS);
    await client.close();
  });

  it('neither loses nor repeats a change made during the scan, across a restart mid-snapshot', {
    timeout: 180_000,
  }, async () => {
    await client.connect();
    const db = client.db(s.db);
    for (const name of COLLECTIONS) {
      await db.collection<{ _id: number; [k: string]: unknown }>(name).insertMany(
        Array.from({ length: PER_COLLECTION }, (_, i) => ({
          _id: i,
          v: new Int32(0),
          pad: 'x'.repeat(200),
        })),
      );
    }
    const source = s.source({ snapshotOptions: { parallelism: 2, batchSize: 100 } });

    // Writer: changes documents while the snapshot reads them.
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      let n = 0;
      while (writing) {
        const coll = db.collection<{ _id: number; [k: string]: unknown }>(COLLECTIONS[n % 2]!);
        const id = (n * 7919) % PER_COLLECTION;
        if (n % 10 === 9) await coll.deleteOne({ _id: id });
        else if (n % 10 === 8) await coll.insertOne({ _id: PER_COLLECTION + n, v: new Int32(n) });
        else await coll.updateOne({ _id: id }, { $set: { v: new Int32(n) } });
        n++;
        writes++;
      }
    })();

    // First run: stopped in the middle of the snapshot.
    let run = runCapture(source);
    await waitFor('the snapshot to be under way', 60_000, () =>
      [...(run.capture.snapshotProgress?.values() ?? [])].some((p) => p.documentsDone >= 300),
    );
    const progress = [...run.capture.snapshotProgress!.values()];
    expect(progress.map((p) => p.collection).sort()).toEqual(COLLECTIONS.map((c) => `${s.db}.${c}`));
    await run.stop();

    // Second run: finishes the same snapshot, then streams.
    run = runCapture(source);
    await waitStreaming(run.capture, 120_000);
    await new Promise((r) => setTimeout(r, 500));
    writing = false;
    await writer;
    expect(writes).toBeGreaterThan(50);

    // A last document per collection marks the end of what the consumer must wait for.
    for (const name of COLLECTIONS)
      await db
        .collection<{ _id: string; [k: string]: unknown }>(name)
        .insertOne({ _id: 'end', v: new Int32(-1) });
    // Everything the server has, to compare with at the end.
    const expected = new Map<string, number>();
    for (const name of COLLECTIONS) {
      for (const d of await db.collection(name).find({}).toArray())
        expected.set(
          `${name}/${typeof d._id === 'string' ? JSON.stringify(d._id) : JSON.stringify({ $numberInt: String(d._id) })}`,
          Number(d.v),
        );
    }
    const topics = COLLECTIONS.map((c) => s.topicOf(c));
    const records = await consume(topics, {
      expected: 2 * PER_COLLECTION,
      timeoutMs: 90_000,
      settleMs: 500,
      until: (got) => got.filter((r) => r.key?.id === '"end"').length === COLLECTIONS.length,
    });
    await run.stop();

    // Repeated change ids would be documents read again after the restart; then replay per key.
    const seen = new Set<string>();
    const unique: Consumed[] = [];
    for (const r of records) {
      if (seen.has(r.value!.changeId)) continue;
      seen.add(r.value!.changeId);
      unique.push(r);
    }
    // The restart read on after what the first run had committed: no change id twice.
    expect(records.length).toBe(unique.length);
    const reads = unique.filter((r) => r.value!.op === 'r');
    const readKeys = reads.map((r) => `${r.topic}/${r.key!.id}`);
    expect(new Set(readKeys).size).toBe(readKeys.length); // each document read once
    expect(reads.length).toBeGreaterThanOrEqual(2 * PER_COLLECTION - writes);
    expect(new Set(reads.map((r) => r.value!.source.resumeToken)).size).toBe(1); // one snapshot id
    const streamed = unique.filter((r) => r.value!.op !== 'r');
    expect(streamed.length).toBeGreaterThan(0);

    const state = new Map<string, number | null>();
    // Records of one key share a partition and arrive in its offset order.
    for (const r of unique) {
      const coll = r.topic.slice(r.topic.lastIndexOf('.') + 1);
      const key = `${coll}/${r.key!.id}`;
      const after = r.value!.after as { v?: { int?: number } | null } | null;
      state.set(key, after ? (after.v?.int ?? null) : null);
    }
    const final = new Map([...state].filter(([, v]) => v !== null));
    expect(final.size).toBe(expected.size);
    for (const [key, v] of expected) expect(final.get(key), key).toBe(v);
  });
});

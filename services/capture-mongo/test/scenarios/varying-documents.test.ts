/**
 * Documents of varying shape stream into one topic whose Avro schema widens with each new
 * shape; a document that cannot be represented goes to the dead-letter topic with the reason
 * and the stream goes on; after a restart the capture resumes after its committed token (no
 * change twice, none lost) and widens from the inferred schema it stored in Kafka.
 *
 * Also the documented reaction to an update whose document is gone when the server looks it up
 * (deleted before the capture read the event): a dead letter naming why, then the delete. On
 * mongo-java-server, whose update events carry the operators instead of the key, the key comes
 * from the looked-up document; when that is gone too, the dead letter names the server's
 * limitation.
 */
import { Double, Int32 } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Consumed,
  cleanup,
  consume,
  endpoints,
  mongoClient,
  runCapture,
  SERVERS,
  scenario,
  waitStreaming,
} from './harness.ts';

/** The `_id` of a record (test ids are strings `k<n>`): `<n>`. */
const idOf = (r: Consumed) => (JSON.parse(r.key!.id) as string).slice(1);

describe.each(SERVERS)('varying-documents on $name', (server) => {
  const s = scenario('vary', server);
  const client = mongoClient(server.url);
  afterAll(async () => {
    await cleanup(s, ['things']);
    await client.close();
  });

  it('widens the schema, dead-letters what it cannot represent, resumes exactly after a restart', {
    timeout: 120_000,
  }, async () => {
    await client.connect();
    const coll = client.db(s.db).collection<{ _id: string; [k: string]: unknown }>('things');
    await coll.insertOne({ _id: 'k0', seed: true }); // the collection exists before the capture lists it
    const source = s.source({ snapshot: 'never', maxFieldsPerRecord: 20 });
    let run = runCapture(source);
    await waitStreaming(run.capture);

    await coll.insertOne({ _id: 'k1', a: new Int32(1) });
    await coll.insertOne({ _id: 'k2', a: 'two', nested: { x: new Int32(1), tags: ['p', 'q'] } });
    await coll.insertOne({
      _id: 'k3',
      a: new Double(1.5),
      people: [{ name: 'ann' }, { name: 'bob', age: new Int32(4) }],
    });
    await coll.updateOne({ _id: 'k1' }, { $set: { b: true }, $unset: { a: '' } });
    await coll.replaceOne({ _id: 'k2' }, { c: 'replaced' });
    const wide: { _id: string; [k: string]: unknown } = { _id: 'k4' };
    for (let i = 0; i < 25; i++) wide[`f${i}`] = i;
    await coll.insertOne(wide); // 25 top-level fields > maxFieldsPerRecord (20): dead-lettered
    await coll.deleteOne({ _id: 'k3' });
    await coll.insertOne({ _id: 'k5', a: new Int32(5), late: 'after the dead letter' });

    const topic = s.topicOf('things');
    const first = await consume([topic, s.deadLetterTopic], { expected: 8 });
    const data = first.filter((r) => r.topic === topic);
    const dead = first.filter((r) => r.topic === s.deadLetterTopic);
    expect(data.map((r) => `${idOf(r)}:${r.value?.op}`)).toEqual(
      expect.arrayContaining(['1:c', '2:c', '3:c', '1:u', '2:u', '3:d', '5:c']),
    );
    expect(data).toHaveLength(7);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers['cdc.error.code']).toBe('POISON_RECORD');
    expect(dead[0]!.headers['cdc.error.message']).toMatch(/maxFieldsPerRecord/);
    expect(JSON.parse(dead[0]!.raw!.toString())).toMatchObject({ op: 'c', collection: `${s.db}.things` });

    const byKey = (id: string, op: string) => data.find((r) => idOf(r) === id && r.value?.op === op)!.value!;
    expect(byKey('1', 'c').after).toMatchObject({ _id: { string: 'k1' }, a: { int: 1 } });
    expect(byKey('2', 'c').after).toMatchObject({ a: { string: 'two' } });
    expect(byKey('3', 'c').after).toMatchObject({ a: { double: 1.5 } });
    expect(byKey('1', 'u').after).toMatchObject({ _id: { string: 'k1' }, b: { boolean: true }, a: null });
    expect(byKey('2', 'u').after).toMatchObject({ c: { string: 'replaced' }, a: null });
    expect(byKey('3', 'd').after).toBeNull();
    if (server.updateDescription) {
      expect(byKey('1', 'u').updateDescription).toMatchObject({ removedFields: ['a'] });
      expect(JSON.parse(byKey('1', 'u').updateDescription!.updatedFields as string)).toEqual({ b: true });
    } else {
      // mongo-java-server sends no update description; the key came from the looked-up document.
      expect(byKey('1', 'u').updateDescription).toBeNull();
    }
    // Every change id is the event's resume token, unique.
    expect(new Set(data.map((r) => r.value!.changeId)).size).toBe(7);
    // The schema widened: records carry several schema ids, each newer one registered later.
    const schemaIds = new Set(data.map((r) => r.raw!.readInt32BE(1)));
    expect(schemaIds.size).toBeGreaterThanOrEqual(3);

    // Restart: changes made while stopped arrive once; an update whose document is gone by the
    // time the stream is read is dead-lettered with the reason, then its delete follows.
    await run.stop();
    await coll.updateOne({ _id: 'k5' }, { $set: { gone: true } });
    await coll.deleteOne({ _id: 'k5' });
    await coll.insertOne({ _id: 'k6', a: 'six', newer: { deep: [new Int32(1)] } });
    run = runCapture(source);
    await waitStreaming(run.capture);
    const all = await consume([topic, s.deadLetterTopic], { expected: 11 });
    await run.stop();
    const data2 = all.filter((r) => r.topic === topic);
    const dead2 = all.filter((r) => r.topic === s.deadLetterTopic);
    expect(data2).toHaveLength(9);
    expect(new Set(data2.map((r) => r.value!.changeId)).size).toBe(9);
    expect(data2.map((r) => `${idOf(r)}:${r.value?.op}`).sort()).toEqual(
      ['1:c', '2:c', '3:c', '1:u', '2:u', '3:d', '5:c', '5:d', '6:c'].sort(),
    );
    expect(data2.find((r) => idOf(r) === '6')!.value!.after).toMatchObject({
      a: { string: 'six' },
      newer: expect.anything(),
    });
    expect(dead2).toHaveLength(2);
    const goneUpdate = dead2.find((r) => r.headers['cdc.change-id'] !== dead[0]!.headers['cdc.change-id'])!;
    if (server.updateDescription) {
      expect(goneUpdate.headers['cdc.error.code']).toBe('POISON_RECORD');
      expect(goneUpdate.headers['cdc.error.message']).toMatch(/gone when the server looked it up/);
    } else {
      expect(goneUpdate.headers['cdc.error.code']).toBe('SOURCE_UNSUPPORTED');
      expect(goneUpdate.headers['cdc.error.message']).toMatch(
        /mongo-java-server puts the update's operators there/,
      );
    }
    // The stored inference state carried over: the version after the restart only widened.
    const versions = (await (
      await fetch(`${endpoints.registry.url}/subjects/${topic}-value/versions`)
    ).json()) as number[];
    expect(versions.length).toBeGreaterThanOrEqual(4);
  });
});

/**
 * BSON types through the capture: ObjectId, Decimal128, Date (before 1970 too), Timestamp,
 * Binary (generic and UUID), nested arrays of documents, and null versus missing — read by the
 * snapshot and by the stream, written as Avro, read back by a consumer that holds only the
 * registered schema (`avroToDocument`), equal to what the server has (up to the documented
 * representation choices, see `comparableDocument`). Keys rebuild the `_id` exactly.
 */
import { type AvroRecordSchema, avroToDocument, comparableDocument, mongoKeyToId } from '@cdc/avro';
import { Binary, Decimal128, type Document, Int32, Long, ObjectId, Timestamp, UUID } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  consume,
  endpoints,
  mongoClient,
  runCapture,
  SERVERS,
  scenario,
  waitStreaming,
} from './harness.ts';

function documents(tag: string): Document[] {
  return [
    {
      _id: new ObjectId(),
      tag,
      oid: new ObjectId('65a1b2c3d4e5f60718293a4b'),
      dec: Decimal128.fromString('-1234567890.123456789012345678901234'),
      decNaN: Decimal128.fromString('NaN'),
      date: new Date('2024-02-29T12:34:56.789Z'),
      before1970: new Date('1901-12-13T20:45:52.000Z'),
      ts: new Timestamp({ t: 1_700_000_000, i: 7 }),
      bin: new Binary(Buffer.from([0, 1, 2, 255]), 0),
      uuid: new UUID('0f5b4a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b'),
      big: Long.fromString('9007199254740993'),
      people: [
        { name: 'ann', tags: [{ k: new Int32(1) }, { k: new Int32(2), note: 'x' }] },
        { name: 'bob', grid: [[{ x: new Int32(1) }], []] },
        {},
      ],
      nothing: null,
    },
    // Missing where the first has null or a value: a consumer must tell the two apart.
    { _id: `${tag}-sparse`, tag, oid: new ObjectId('65a1b2c3d4e5f60718293a4c') },
    { _id: { compound: new Int32(1), tag }, tag, nothing: null, people: [] },
  ];
}

/** The row schema (`Value`) inside a registered envelope schema. */
async function rowSchema(schemaId: number): Promise<AvroRecordSchema> {
  const res = await fetch(`${endpoints.registry.url}/schemas/ids/${schemaId}`);
  const envelope = JSON.parse(((await res.json()) as { schema: string }).schema) as AvroRecordSchema;
  const before = envelope.fields.find((f) => f.name === 'before')!;
  const row = (before.type as unknown[])[1] as AvroRecordSchema & { namespace?: string };
  // Taken out of the envelope, the row keeps the namespace it inherited there: its nested
  // records are named (and their union branches wrapped) in it.
  const inherited =
    (envelope as { namespace?: string }).namespace ??
    (envelope.name.includes('.') ? envelope.name.slice(0, envelope.name.lastIndexOf('.')) : undefined);
  return row.name.includes('.') || row.namespace !== undefined ? row : { ...row, namespace: inherited };
}

describe.each(SERVERS)('bson-types on $name', (server) => {
  const s = scenario('bson', server);
  const client = mongoClient(server.url);
  afterAll(async () => {
    await cleanup(s, ['types']);
    await client.close();
  });

  it('writes every type so that a consumer rebuilds the documents from the registered schemas', {
    timeout: 120_000,
  }, async () => {
    await client.connect();
    const coll = client.db(s.db).collection('types');
    const snapshotted = documents('snap');
    await coll.insertMany(snapshotted);
    const run = runCapture(s.source());
    try {
      await waitStreaming(run.capture);
      const streamed = documents('stream');
      for (const d of streamed) await coll.insertOne(d);
      const records = await consume([s.topicOf('types')], { expected: 6 });
      expect(records).toHaveLength(6);
      const stored = await coll.find({}).toArray();
      for (const r of records) {
        const value = r.value!;
        expect(value.op).toBe(value.source.snapshot === 'true' ? 'r' : 'c');
        const id = mongoKeyToId(r.key!);
        const original = stored.find(
          (d) => JSON.stringify(comparableDocument(d._id)) === JSON.stringify(comparableDocument(id)),
        );
        expect(original, `a document with _id ${r.key!.id}`).toBeDefined();
        const rebuilt = avroToDocument(await rowSchema(r.raw!.readInt32BE(1)), value.after!);
        expect(comparableDocument(rebuilt)).toEqual(comparableDocument(original));
        expect(value.op === 'r' ? original!.tag : original!.tag).toBe(value.op === 'r' ? 'snap' : 'stream');
      }
      // null versus missing survives: the sparse documents have no `nothing`, the others null.
      const sparse = records.filter((r) => r.key!.id.includes('sparse'));
      expect(sparse).toHaveLength(2);
      for (const r of sparse) {
        const rebuilt = avroToDocument(await rowSchema(r.raw!.readInt32BE(1)), r.value!.after!) as Document;
        expect(rebuilt).not.toHaveProperty('nothing');
        expect(rebuilt).not.toHaveProperty('people');
      }
    } finally {
      await run.stop();
    }
  });
});

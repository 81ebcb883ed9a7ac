/**
 * Documents of every BSON type, written with the MongoDB driver to the local SecantusDB and read
 * back through a change stream (`fullDocument`), as capture-mongo reads them: inferred into one
 * widening schema, converted, encoded to Avro binary, decoded and rebuilt equal to what was
 * inserted (up to the documented representation choices, see `comparable`).
 *
 * Needs `npm run stack -- up --only mongo`. Uses a database of its own, dropped at the end.
 */
import {
  Binary,
  BSONRegExp,
  BSONSymbol,
  type ChangeStream,
  type ChangeStreamInsertDocument,
  Code,
  DBRef,
  type Db,
  Decimal128,
  type Document,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  MongoClient,
  ObjectId,
  Timestamp,
  UUID,
} from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import {
  avroNamespaceFor,
  avroToDocument,
  comparableDocument,
  InferredSchema,
  mongoAvroType,
  mongoKey,
  mongoKeySchema,
  mongoKeyToId,
} from '../../src/index.ts';

const RUN = `${Date.now().toString(36)}_${process.pid}`;
const DB_NAME = `cdc_it_avro_${RUN}`;
const TOPIC = `cdc.${DB_NAME}.things`;
const EVENT_TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The next `n` change events, or a failure naming how many came before the deadline. */
async function take(stream: ChangeStream, n: number): Promise<Document[]> {
  const events: Document[] = [];
  const deadline = Date.now() + EVENT_TIMEOUT_MS;
  while (events.length < n && Date.now() < deadline) {
    const e = await stream.tryNext();
    if (e) events.push(e as Document);
    else await sleep(50);
  }
  if (events.length < n)
    throw new Error(`expected ${n} change events within ${EVENT_TIMEOUT_MS} ms, got ${events.length}`);
  return events;
}

/** One document per BSON type family, with boundary values; `v` changes type from one to the next. */
function documents(): Document[] {
  return [
    {
      _id: new ObjectId(),
      v: new Int32(2 ** 31 - 1),
      flag: true,
      name: 'plain',
      empty: '',
      unicode: 'héllo wörld 日本 🎉',
      huge: 'x'.repeat(1_000_000),
      i32: new Int32(-(2 ** 31)),
      i64max: Long.MAX_VALUE,
      i64min: Long.MIN_VALUE,
      beyond53: Long.fromString('9007199254740993'),
      dbl: new Double(-0),
      nan: new Double(Number.NaN),
      inf: new Double(Number.POSITIVE_INFINITY),
      dec: Decimal128.fromString('-1234567890.123456789012345678901234'),
      decNaN: Decimal128.fromString('NaN'),
      before1970: new Date('1901-12-13T20:45:52.000Z'),
      after2038: new Date('2100-01-01T00:00:00.001Z'),
      ts: new Timestamp({ t: 4_294_967_295, i: 7 }),
      bin: new Binary(Buffer.from([0, 1, 2, 255]), 0),
      md5: new Binary(Buffer.alloc(16, 7), 5),
      uuid: new UUID('0f5b4a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b'),
      nothing: null,
      'dotted.name': 1,
      $dollar: 2,
      '1st place': 3,
      nested: { a: { b: { c: [1, { d: 'deep' }] } } },
      people: [{ name: 'ann' }, { name: 'bob', age: new Int32(40) }, {}],
      mixed: [new Int32(1), 'two', null, new Double(3.5)],
      matrix: [[new Int32(1)], [], [new Int32(2), null]],
    },
    { _id: 'string id', v: Long.fromString('-9223372036854775808'), nested: { a: { x: true } } },
    { _id: new Int32(42), v: new Double(0.1), people: [{ name: 'cid', tags: ['x'] }] },
    { _id: { compound: new Int32(1), key: 'k' }, v: 'now a string' },
    { _id: new UUID('1f5b4a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b'), v: { a: 'document after scalars' } },
    {
      _id: Long.fromNumber(7),
      min: new MinKey(),
      max: new MaxKey(),
      re: new BSONRegExp('^ab+c$', 'imsx'),
      code: new Code('function () { return x; }'),
      codeScope: new Code('x + y', { y: new Int32(1) }),
      sym: new BSONSymbol('symbol'),
      ref: new DBRef('other', new ObjectId('65a1b2c3d4e5f60718293a4b')),
      name: new ObjectId('65a1b2c3d4e5f60718293a4c'),
    },
  ];
}

function asSecantusStores(doc: Document | undefined): Document | undefined {
  if (doc?.sym instanceof BSONSymbol) return { ...doc, sym: doc.sym.valueOf() };
  return doc;
}

describe('MongoDB documents → inferred Avro, through a SecantusDB change stream', () => {
  let client: MongoClient;
  let db: Db;
  let stream: ChangeStream | undefined;

  beforeAll(async () => {
    // As capture-mongo reads: Int32/Int64/Double kept apart, regular expressions as BSONRegExp.
    client = new MongoClient(localEndpoints().mongo.url, {
      promoteValues: false,
      bsonRegExp: true,
      serverSelectionTimeoutMS: 5_000,
    });
    await client.connect();
    db = client.db(DB_NAME);
  });

  afterAll(async () => {
    await stream?.close();
    await db?.dropDatabase().catch(() => undefined);
    await client?.close();
  });

  it('round-trips every BSON type, widening one schema whose versions each read the previous', async () => {
    const things = db.collection('things');
    await db.createCollection('things');
    stream = things.watch([], { fullDocument: 'updateLookup' });
    expect(await stream.tryNext()).toBeNull(); // opens the stream before the writes
    const inserted = documents();
    for (const doc of inserted) await things.insertOne(doc);
    const events = (await take(stream, inserted.length)) as ChangeStreamInsertDocument[];
    expect(events.map((e) => e.operationType)).toEqual(inserted.map(() => 'insert'));

    const inferred = InferredSchema.create({ namespace: avroNamespaceFor(TOPIC) });
    type Version = {
      schema: ReturnType<InferredSchema['schema']>;
      written: Array<{ bytes: Buffer; doc: Document }>;
    };
    const versions: Version[] = [];
    for (const event of events) {
      const doc = event.fullDocument;
      // The server hands back what was written, type for type, except that SecantusDB stores
      // the deprecated Symbol type as a plain string (MongoDB keeps it).
      const original = inserted.find(
        (d) => JSON.stringify(comparableDocument(d._id)) === JSON.stringify(comparableDocument(doc._id)),
      );
      expect(comparableDocument(doc)).toEqual(comparableDocument(asSecantusStores(original)));

      const { changed, schema } = inferred.observe(doc);
      if (changed) versions.push({ schema, written: [] });
      const type = mongoAvroType(schema);
      const bytes = type.toBuffer(inferred.toAvro(doc));
      versions.at(-1)?.written.push({ bytes, doc });
      expect(comparableDocument(avroToDocument(schema, type.fromBuffer(bytes)))).toEqual(
        comparableDocument(doc),
      );

      const keyType = mongoAvroType(mongoKeySchema(TOPIC));
      const key = keyType.fromBuffer(keyType.toBuffer(mongoKey(event.documentKey))) as { id: string };
      expect(comparableDocument(mongoKeyToId(key))).toEqual(comparableDocument(original?._id));
    }

    // `v` held int32, int64, double, a string and a document: one union, plus Extended JSON.
    const v = inferred.schema().fields.find((f) => f.name === 'v');
    expect(v?.type).toEqual([
      'null',
      'long',
      'double',
      'string',
      { type: 'map', values: 'string', 'cdc.type': 'extendedJson' },
    ]);

    // BACKWARD: each version reads the data written with the one before, as the same documents.
    expect(versions.length).toBeGreaterThan(2);
    for (let n = 1; n < versions.length; n++) {
      const older = versions[n - 1] as Version;
      const newer = versions[n] as Version;
      const reader = mongoAvroType(newer.schema);
      const resolver = reader.createResolver(mongoAvroType(older.schema));
      for (const w of older.written) {
        const read = avroToDocument(newer.schema, reader.fromBuffer(w.bytes, resolver));
        expect(comparableDocument(read)).toEqual(comparableDocument(w.doc));
      }
    }
  });
});

/**
 * Change streams on the stack's two MongoDB-compatible servers: SecantusDB (`mongo`) and
 * mongo-java-server with its oplog (`mongo-java`). Both must deliver inserts with their full
 * document and resume from a token; beyond that they differ, and each difference is asserted
 * as the server's actual behaviour, so that a release that changes it fails here:
 *
 * | feature                               | SecantusDB            | mongo-java-server            |
 * | ------------------------------------- | --------------------- | ---------------------------- |
 * | resume token `_data`                  | hex of a BSON doc     | hex of the oplog timestamp   |
 * | `ns`, `wallTime` on events            | yes                   | no                           |
 * | update: `updateDescription`           | yes                   | no; `documentKey` = operators|
 * | `fullDocument: 'updateLookup'`        | yes                   | yes                          |
 * | replaceOne                            | `replace` event       | `update` event               |
 * | pre-images (`fullDocumentBeforeChange`)| yes (collection opt) | ignored                      |
 * | drop                                  | `drop` + `invalidate` | `drop` only, stream stays    |
 * | database / cluster scope              | yes                   | no                           |
 *
 * Needs `npm run stack -- up --only mongo,mongo-java`. Each run uses databases of its own,
 * dropped at the end.
 */
import { type ChangeStream, type Document, MongoClient, type ResumeToken } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../src/endpoints.ts';

const endpoints = localEndpoints();
const RUN = `${Date.now().toString(36)}_${process.pid}`;
/** How long to wait for an event that must come, and how long to watch for one that must not. */
const EVENT_TIMEOUT_MS = 5_000;
const QUIET_MS = 1_500;
const TEST_TIMEOUT_MS = 30_000;

interface ServerCase {
  name: string;
  stackName: string;
  url: string;
  handshake: 'hello' | 'isMaster';
  /** Update events carry `updateDescription` and `documentKey: { _id }`. */
  updateDescription: boolean;
  /** Events carry `ns` and `wallTime`. */
  namespace: boolean;
  /** `replaceOne` yields a `replace` event. */
  replaceEvents: boolean;
  /** `fullDocumentBeforeChange` works on collections created with `changeStreamPreAndPostImages`. */
  preImages: boolean;
  /** Dropping the watched collection ends the stream with an `invalidate` event. */
  invalidateOnDrop: boolean;
  /** Streams on a whole database or the whole deployment work. */
  widerScopes: boolean;
}

const SERVERS: ServerCase[] = [
  {
    name: 'SecantusDB',
    stackName: 'mongo',
    url: endpoints.mongo.url,
    handshake: 'hello',
    updateDescription: true,
    namespace: true,
    replaceEvents: true,
    preImages: true,
    invalidateOnDrop: true,
    widerScopes: true,
  },
  {
    name: 'mongo-java-server',
    stackName: 'mongo-java',
    url: endpoints.mongoJava.url,
    handshake: 'isMaster',
    updateDescription: false,
    namespace: false,
    replaceEvents: false,
    preImages: false,
    invalidateOnDrop: false,
    widerScopes: false,
  },
];

/** Test documents use their own string or number keys. */
interface Doc {
  _id: string | number;
  [field: string]: unknown;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens the stream on the server (the driver sends `aggregate` only on the first read), so
 * that writes made after this call are seen.
 */
async function opened(stream: ChangeStream): Promise<ChangeStream> {
  expect(await stream.tryNext()).toBeNull();
  return stream;
}

/** The next `n` events, or a failure naming how many came before the deadline. */
async function take(stream: ChangeStream, n: number, timeoutMs = EVENT_TIMEOUT_MS): Promise<Document[]> {
  const events: Document[] = [];
  const deadline = Date.now() + timeoutMs;
  while (events.length < n && Date.now() < deadline) {
    const e = await stream.tryNext();
    if (e) events.push(e as Document);
    else await sleep(50); // mongo-java-server answers getMore at once, without awaitData
  }
  if (events.length < n)
    throw new Error(
      `expected ${n} change event(s) within ${timeoutMs} ms, got ${events.length}: ${JSON.stringify(events)}`,
    );
  return events;
}

/** Asserts that no event arrives for a while (and returns what did, for the message). */
async function expectQuiet(stream: ChangeStream): Promise<void> {
  const deadline = Date.now() + QUIET_MS;
  const extra: Document[] = [];
  while (Date.now() < deadline) {
    const e = await stream.tryNext();
    if (e) extra.push(e as Document);
    else await sleep(50);
  }
  expect(extra).toEqual([]);
}

describe.each(SERVERS)('$name change streams', (server) => {
  let client: MongoClient;
  const dbName = `cdc_it_${server.stackName.replace('-', '_')}_${RUN}`;
  const streams: ChangeStream[] = [];
  const watch = (target: { watch: (p: Document[], o: Document) => ChangeStream }, options: Document = {}) => {
    const s = target.watch([], { maxAwaitTimeMS: 200, ...options });
    streams.push(s);
    return s;
  };
  let collSeq = 0;
  const freshCollection = () => client.db(dbName).collection<Doc>(`c${++collSeq}`);

  beforeAll(async () => {
    client = new MongoClient(server.url, {
      serverSelectionTimeoutMS: 5_000,
      connectTimeoutMS: 5_000,
      socketTimeoutMS: 20_000,
    });
    await client.connect().catch((err: Error) => {
      throw new Error(
        `${server.name} does not answer at ${server.url} (${err.message}): start it with npm run stack -- up --only ${server.stackName}`,
      );
    });
  });

  afterAll(async () => {
    await Promise.allSettled(streams.map((s) => s.close()));
    await client?.db(dbName).dropDatabase();
    await client?.close();
  });

  it('reports the MongoDB version it claims', { timeout: TEST_TIMEOUT_MS }, async () => {
    const admin = client.db('admin');
    const info = await admin.command({ buildInfo: 1 });
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    const hello = await admin.command({ [server.handshake]: 1 });
    // The Node driver 7 refuses servers below wire version 9 (MongoDB 4.4).
    expect(hello.maxWireVersion).toBeGreaterThanOrEqual(9);
  });

  it('delivers an insert with its full document', { timeout: TEST_TIMEOUT_MS }, async () => {
    const coll = freshCollection();
    const stream = await opened(watch(coll));
    await coll.insertOne({ _id: 'a', name: 'Ada', n: 1 });
    const [event] = await take(stream, 1);
    expect(event).toMatchObject({
      operationType: 'insert',
      documentKey: { _id: 'a' },
      fullDocument: { _id: 'a', name: 'Ada', n: 1 },
    });
    expect(event!._id).toEqual({ _data: expect.stringMatching(/^[0-9a-f]+$/i) });
    expect(event!.clusterTime).toBeDefined();
    if (server.namespace) {
      expect(event!.ns).toEqual({ db: dbName, coll: coll.collectionName });
      expect(event!.wallTime).toBeInstanceOf(Date);
    } else {
      // mongo-java-server: events name neither their namespace nor their wall time.
      expect(event!.ns).toBeUndefined();
      expect(event!.wallTime).toBeUndefined();
    }
  });

  it('ignores writes to other collections and databases', { timeout: TEST_TIMEOUT_MS }, async () => {
    const coll = freshCollection();
    const stream = await opened(watch(coll));
    await client
      .db(dbName)
      .collection(`${coll.collectionName}_other`)
      .insertOne({ _id: 'x' } as Document);
    await client
      .db(`${dbName}_other`)
      .collection(coll.collectionName)
      .insertOne({ _id: 'y' } as Document);
    await coll.insertOne({ _id: 'mine' });
    const [event] = await take(stream, 1);
    expect(event!.documentKey).toEqual({ _id: 'mine' });
    await expectQuiet(stream);
    await client.db(`${dbName}_other`).dropDatabase();
  });

  for (const option of ['resumeAfter', 'startAfter'] as const) {
    it(`a stream opened with ${option} the first event's token delivers the later changes only`, {
      timeout: TEST_TIMEOUT_MS,
    }, async () => {
      const coll = freshCollection();
      const first = await opened(watch(coll));
      await coll.insertOne({ _id: 1, v: 'one' });
      await coll.insertOne({ _id: 2, v: 'two' });
      await coll.insertOne({ _id: 3, v: 'three' });
      const seen = await take(first, 3);
      await first.close();
      const token = seen[0]!._id as ResumeToken;

      const resumed = watch(coll, { [option]: token });
      const after = await take(resumed, 2);
      expect(after.map((e) => e.documentKey)).toEqual([{ _id: 2 }, { _id: 3 }]);
      expect(after.map((e) => e._id)).toEqual([seen[1]!._id, seen[2]!._id]);
      await expectQuiet(resumed);
      // The stream carries on past the resume point.
      await coll.insertOne({ _id: 4, v: 'four' });
      const [later] = await take(resumed, 1);
      expect(later!.fullDocument).toEqual({ _id: 4, v: 'four' });
    });
  }

  it('has the resume-token format it documents', { timeout: TEST_TIMEOUT_MS }, async () => {
    const coll = freshCollection();
    const stream = await opened(watch(coll));
    await coll.insertOne({ _id: 'token' });
    const [event] = await take(stream, 1);
    const data = (event!._id as { _data: string })._data;
    if (server.name === 'SecantusDB') {
      // A BSON document {s: oplog seq, t: timestamp, n: namespace, k: document key}, in hex:
      // its first four bytes are the document's length, little-endian.
      expect(Buffer.from(data, 'hex').readInt32LE(0)).toBe(data.length / 2);
      expect(Buffer.from(data, 'hex').toString('latin1')).toContain(`${dbName}.${coll.collectionName}`);
    } else {
      // mongo-java-server: the event's oplog timestamp (seconds << 32 | counter), 16 hex digits.
      const ts = event!.clusterTime as { toString(radix: number): string };
      expect(data).toBe(BigInt(ts.toString(10)).toString(16).padStart(16, '0'));
    }
  });

  it('delivers an update with the looked-up document', { timeout: TEST_TIMEOUT_MS }, async () => {
    const coll = freshCollection();
    await coll.insertOne({ _id: 'u', a: 1, gone: true });
    const stream = await opened(watch(coll, { fullDocument: 'updateLookup' }));
    await coll.updateOne({ _id: 'u' }, { $set: { a: 2 }, $unset: { gone: '' } });
    const [event] = await take(stream, 1);
    expect(event).toMatchObject({ operationType: 'update', fullDocument: { _id: 'u', a: 2 } });
    expect(event!.fullDocument).not.toHaveProperty('gone');
    if (server.updateDescription) {
      expect(event!.documentKey).toEqual({ _id: 'u' });
      expect(event!.updateDescription).toMatchObject({ updatedFields: { a: 2 }, removedFields: ['gone'] });
    } else {
      // mongo-java-server: no updateDescription, and documentKey holds the update's operators
      // (its oplog keeps the update spec where mongod keeps the key).
      expect(event!.updateDescription).toBeUndefined();
      expect(event!.documentKey).toEqual({ $set: { a: 2 }, $unset: { gone: '' } });
    }
  });

  it('looks the document up when the event is read, not when it was written', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const coll = freshCollection();
    await coll.insertOne({ _id: 'late', a: 1, b: 1 });
    const stream = await opened(watch(coll, { fullDocument: 'updateLookup' }));
    await coll.updateOne({ _id: 'late' }, { $set: { a: 2 } });
    await coll.deleteOne({ _id: 'late' });
    const [update, del] = await take(stream, 2);
    expect(update!.operationType).toBe('update');
    expect(del!.operationType).toBe('delete');
    if (server.updateDescription) {
      // As mongod: the document is gone by the time the update event is read.
      expect(update!.fullDocument).toBeNull();
    } else {
      // mongo-java-server falls back to the update's $set/$unset fields: a partial document
      // without its _id, which a consumer must not take for the row.
      expect(update!.fullDocument).toEqual({ a: 2 });
    }
  });

  it('delivers a replacement', { timeout: TEST_TIMEOUT_MS }, async () => {
    const coll = freshCollection();
    await coll.insertOne({ _id: 'r', a: 1 });
    const stream = await opened(watch(coll, { fullDocument: 'updateLookup' }));
    await coll.replaceOne({ _id: 'r' }, { b: 2 });
    const [event] = await take(stream, 1);
    expect(event!.fullDocument).toEqual({ _id: 'r', b: 2 });
    if (server.replaceEvents) {
      expect(event).toMatchObject({ operationType: 'replace', documentKey: { _id: 'r' } });
    } else {
      // mongo-java-server: a replacement is an `update` whose documentKey is the new document.
      expect(event).toMatchObject({ operationType: 'update', documentKey: { _id: 'r', b: 2 } });
    }
  });

  it('delivers a delete with the document key', { timeout: TEST_TIMEOUT_MS }, async () => {
    const coll = freshCollection();
    await coll.insertOne({ _id: 'd', a: 1 });
    const stream = await opened(watch(coll));
    await coll.deleteOne({ _id: 'd' });
    const [event] = await take(stream, 1);
    expect(event).toMatchObject({ operationType: 'delete', documentKey: { _id: 'd' } });
    // mongod omits fullDocument on deletes; mongo-java-server sends it as null.
    expect(event!.fullDocument ?? null).toBeNull();
  });

  if (server.preImages) {
    it('delivers pre-images when the collection records them', { timeout: TEST_TIMEOUT_MS }, async () => {
      const db = client.db(dbName);
      const name = `c${++collSeq}`;
      await db.createCollection(name, { changeStreamPreAndPostImages: { enabled: true } });
      const coll = db.collection<Doc>(name);
      await coll.insertOne({ _id: 'p', a: 1 });
      const stream = await opened(
        watch(coll, { fullDocument: 'updateLookup', fullDocumentBeforeChange: 'required' }),
      );
      // updateLookup reads the document when the event is read, so read it before the delete.
      await coll.updateOne({ _id: 'p' }, { $set: { a: 2 } });
      const [update] = await take(stream, 1);
      await coll.deleteOne({ _id: 'p' });
      const [del] = await take(stream, 1);
      expect(update).toMatchObject({
        operationType: 'update',
        fullDocumentBeforeChange: { _id: 'p', a: 1 },
        fullDocument: { _id: 'p', a: 2 },
      });
      expect(del).toMatchObject({ operationType: 'delete', fullDocumentBeforeChange: { _id: 'p', a: 2 } });
    });
  } else {
    it('ignores fullDocumentBeforeChange: no pre-images (known gap)', {
      timeout: TEST_TIMEOUT_MS,
    }, async () => {
      const db = client.db(dbName);
      const name = `c${++collSeq}`;
      // It accepts the collection option, but has no collMod and records no pre-image.
      await db.createCollection(name, { changeStreamPreAndPostImages: { enabled: true } });
      await expect(
        db.command({ collMod: name, changeStreamPreAndPostImages: { enabled: true } }),
      ).rejects.toThrow(/no such command: 'collMod'/);
      const coll = db.collection<Doc>(name);
      await coll.insertOne({ _id: 'p', a: 1 });
      const stream = await opened(watch(coll, { fullDocumentBeforeChange: 'required' }));
      await coll.updateOne({ _id: 'p' }, { $set: { a: 2 } });
      const [update] = await take(stream, 1);
      expect(update!.operationType).toBe('update');
      expect(update).not.toHaveProperty('fullDocumentBeforeChange');
    });
  }

  if (server.invalidateOnDrop) {
    it('ends the stream with invalidate when the collection is dropped; startAfter passes it', {
      timeout: TEST_TIMEOUT_MS,
    }, async () => {
      const coll = freshCollection();
      await coll.insertOne({ _id: 'before' });
      const stream = await opened(watch(coll));
      await coll.drop();
      const [drop, invalidate] = await take(stream, 2);
      expect(drop).toMatchObject({ operationType: 'drop', ns: { db: dbName, coll: coll.collectionName } });
      expect(invalidate!.operationType).toBe('invalidate');
      expect(stream.closed).toBe(true);

      // resumeAfter refuses an invalidate token, as mongod does; startAfter opens past it.
      const refused = watch(coll, { resumeAfter: invalidate!._id });
      await expect(refused.tryNext()).rejects.toThrow();
      const reopened = await opened(watch(coll, { startAfter: invalidate!._id }));
      await coll.insertOne({ _id: 'after' });
      const [event] = await take(reopened, 1);
      expect(event).toMatchObject({ operationType: 'insert', documentKey: { _id: 'after' } });
    });
  } else {
    it('sends drop but no invalidate, and the stream stays open (known gap)', {
      timeout: TEST_TIMEOUT_MS,
    }, async () => {
      const coll = freshCollection();
      await coll.insertOne({ _id: 'before' });
      const stream = await opened(watch(coll));
      await coll.drop();
      const [drop] = await take(stream, 1);
      expect(drop!.operationType).toBe('drop');
      await expectQuiet(stream);
      expect(stream.closed).toBe(false);
    });
  }

  if (server.widerScopes) {
    it('watches a whole database and the whole deployment', { timeout: TEST_TIMEOUT_MS }, async () => {
      const db = client.db(dbName);
      const dbStream = await opened(watch(db));
      const clusterStream = await opened(watch(client));
      const coll = freshCollection();
      await coll.insertOne({ _id: 'wide' });
      for (const s of [dbStream, clusterStream]) {
        const [event] = await take(s, 1);
        expect(event).toMatchObject({
          operationType: 'insert',
          ns: { db: dbName, coll: coll.collectionName },
          documentKey: { _id: 'wide' },
        });
      }
    });
  } else {
    it('serves collection-scoped streams only (known gap)', { timeout: TEST_TIMEOUT_MS }, async () => {
      // Deployment scope: `aggregate` on admin is not implemented.
      const clusterStream = watch(client);
      await expect(clusterStream.tryNext()).rejects.toThrow(/no such command: 'aggregate'/);
      // Database scope: the stream opens but never delivers.
      const dbStream = await opened(watch(client.db(dbName)));
      await freshCollection().insertOne({ _id: 'wide' });
      await expectQuiet(dbStream);
    });
  }
});

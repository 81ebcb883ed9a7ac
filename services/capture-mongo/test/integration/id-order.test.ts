/**
 * Reading a collection on after an `_id` (`idsAfter`) gives, page after page, exactly the
 * documents of one `_id`-ordered read, on both MongoDB-compatible servers of the stack and for
 * `_id`s of every type an `_id` may have: what a capture restarted mid-snapshot relies on.
 */
import { BSON, type Document, MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idsAfter, idText, parseId } from '../../src/snapshot/id-order.ts';
import { SERVERS, uniqueName } from '../scenarios/harness.ts';

const { Binary, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } = BSON;

const IDS: unknown[] = [
  new MinKey(),
  null,
  -5,
  new Int32(3),
  new Long(7),
  new Double(2.5),
  Decimal128.fromString('4.25'),
  'a',
  'b',
  'ba',
  { tenant: 1, n: 2 },
  { tenant: 2, n: 1 },
  new Binary(Buffer.from([1, 2, 3])),
  new ObjectId('64b000000000000000000001'),
  new ObjectId('64b000000000000000000002'),
  false,
  true,
  new Date(1_700_000_000_000),
  new Date(1_700_000_000_001),
  new Timestamp({ t: 5, i: 1 }),
  new MaxKey(),
];

describe.each(SERVERS)('reading on after an _id on $name', (server) => {
  const client = new MongoClient(server.url);
  const db = uniqueName('idorder17');
  beforeAll(async () => {
    await client.connect();
    const docs = IDS.map((_id, i) => ({ _id, i }) as Document);
    // Inserted in an order unrelated to the _id order.
    for (const d of [...docs].reverse()) await client.db(db).collection('c').insertOne(d);
  }, 60_000);
  afterAll(async () => {
    await client
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  });

  it('pages of 3 read on after the last _id equal one ordered read, each document once', async () => {
    const coll = client.db(db).collection('c');
    const all = (await coll.find({}, { sort: { _id: 1 } }).toArray()).map((d) => idText(d._id));
    expect(all).toHaveLength(IDS.length);
    const paged: string[] = [];
    let last: string | undefined;
    for (let guard = 0; guard < IDS.length; guard++) {
      const filter = last === undefined ? {} : idsAfter(parseId(last));
      const page = await coll.find(filter, { sort: { _id: 1 }, limit: 3 }).toArray();
      if (page.length === 0) break;
      for (const d of page) paged.push(idText(d._id));
      last = idText(page[page.length - 1]!._id);
    }
    expect(paged).toEqual(all);
  });
});

/**
 * The watermark merge against PostgreSQL when commit order in the WAL is not visibility order
 * (issue 17's flake in snapshot-then-stream): a transaction whose commit record precedes a
 * window's LOW watermark in the stream, but which the window's read did not see, must drop its
 * key from the window; otherwise the read (an older state, versioned at HIGH) undoes the change
 * the stream already wrote. PostgreSQL makes a committed transaction visible only after its WAL
 * flush, and on a loaded machine LOW can commit and the read's snapshot be taken in that gap;
 * nothing a client can do makes the server take that gap on demand, so this test holds an update
 * open while the window is read (the read cannot see it, as in the race) and hands the merge that
 * update in the order the race produces: before LOW. The window's reads are real (COPY on
 * parallel reader connections); the stream's order is given. Second case: the stream delivered
 * such a transaction before the window even started (too early to drop its key): the window is
 * read again until its snapshot sees it.
 */
import { AvroSerde, pgKeyFromRow, pgRowFromText, RegistryClient } from '@cdc/avro';
import { TopicSchemas } from '@cdc/capture';
import { noopLogger } from '@cdc/core';
import { deleteTopicsIfExist } from '@cdc/kafka';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncrementalSnapshot } from '../../src/snapshot/incremental.ts';
import { describeTable } from '../../src/snapshot/table-route.ts';
import { TableTransforms } from '../../src/streaming/table-transforms.ts';
import { connectPg, endpoints, kafkaClient, uniqueName } from '../scenarios/harness.ts';

const name = uniqueName('i17_vis');
const table = `${name}_t`.toLowerCase();
const topic = `${name}.${endpoints.postgres.database}.public.${table}`;
const kafka = kafkaClient();
const admin = kafka.admin();
const serde = new AvroSerde({ registry: new RegistryClient({ url: endpoints.registry.url }) });
let db: pg.Client;
let writer: pg.Client;
const readers: pg.Client[] = [];

beforeAll(async () => {
  await admin.connect();
  db = await connectPg();
  writer = await connectPg();
  for (let i = 0; i < 2; i++) readers.push(await connectPg());
  await db.query(`CREATE TABLE ${table} (id int8 PRIMARY KEY, v int4 NOT NULL)`);
  await db.query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, 50) g`);
});

afterAll(async () => {
  await writer.query('ROLLBACK').catch(() => undefined);
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  for (const c of [writer, ...readers, db]) await c.end();
  await deleteTopicsIfExist(admin, [topic]).catch(() => undefined);
  await admin.disconnect();
});

/** The 32-bit xid pgoutput gives a transaction (txid_current is epoch-extended). */
async function xidOf(c: pg.Client): Promise<number> {
  const { rows } = await c.query<{ x: string }>('SELECT txid_current()::text AS x');
  return Number(BigInt(rows[0]!.x) & 0xffffffffn);
}

describe('snapshot read visibility', () => {
  it('drops from a window the keys of a transaction before LOW that the read did not see, and only those', async () => {
    const topics = new TopicSchemas({
      serde,
      admin,
      policy: 'stop',
      partitions: 1,
      logger: noopLogger,
      connector: 'postgresql',
    });
    const transforms = TableTransforms.none(name, noopLogger);
    // Seen by the read: committed before the window.
    await writer.query('BEGIN');
    await writer.query(`UPDATE ${table} SET v = 1 WHERE id = 3`);
    const seenXid = await xidOf(writer);
    await writer.query('COMMIT');
    // Not seen by the read: still in progress while the window is read, committed after.
    await writer.query('BEGIN');
    await writer.query(`UPDATE ${table} SET v = 1 WHERE id = 7`);
    const unseenXid = await xidOf(writer);

    const inc = new IncrementalSnapshot({
      name,
      db: endpoints.postgres.database,
      prefix: name,
      client: db,
      topics,
      transforms,
      chunkRows: 100,
      readers,
      pending: [`public.${table}`],
      initialTables: new Set([`public.${table}`]),
      initialChunkRows: 100,
      state: null,
      logger: noopLogger,
    });
    await inc.startChunk();
    await writer.query('COMMIT');

    const { route } = (await describeTable(
      db,
      `public.${table}`,
      name,
      endpoints.postgres.database,
      topics,
      transforms,
    ))!;
    const rs = route.captured.rowSchema;
    const key = (id: number) => pgKeyFromRow(rs, pgRowFromText(rs, [String(id), '1']));
    const chunkId = `${inc.progress?.id}:1`;
    // The stream, in the race's order: both updates before LOW, one more change inside the window.
    inc.streamed('public', table, key(3), seenXid);
    inc.streamed('public', table, key(7), unseenXid);
    expect(inc.watermark(Buffer.from(`low:${chunkId}`))).toBe('low');
    inc.streamed('public', table, key(9), unseenXid + 1);
    expect(inc.watermark(Buffer.from(`high:${chunkId}`))).toBe('high');
    const records = inc.high({
      name,
      db: endpoints.postgres.database,
      finalLsn: 0x1000n,
      lsn: 0x1000n,
      index: 0,
      xid: unseenXid + 2,
      commitTimeUsec: 0n,
    });

    const read = new Map<string, number>();
    for (const r of records) {
      const value = (await serde.deserialize(r.value as Buffer)) as { after: { id: unknown; v: number } };
      read.set(String(value.after.id), value.after.v);
    }
    // Key 7: its update is in the stream before the window and the read predates it: dropped.
    expect(read.has('7')).toBe(false);
    // Key 9: changed inside the window: dropped, as before.
    expect(read.has('9')).toBe(false);
    // Key 3: its update is before the window and the read saw it: kept, with that update's state.
    expect(read.get('3')).toBe(1);
    expect(read.size).toBe(48);
  });

  it('reads a window again until it sees a transaction the stream delivered before the window started', async () => {
    const topics = new TopicSchemas({
      serde,
      admin,
      policy: 'stop',
      partitions: 1,
      logger: noopLogger,
      connector: 'postgresql',
    });
    const transforms = TableTransforms.none(name, noopLogger);
    const { route } = (await describeTable(
      db,
      `public.${table}`,
      name,
      endpoints.postgres.database,
      topics,
      transforms,
    ))!;
    const rs = route.captured.rowSchema;
    const key = (id: number) => pgKeyFromRow(rs, pgRowFromText(rs, [String(id), '2']));
    await writer.query('BEGIN');
    await writer.query(`UPDATE ${table} SET v = 2 WHERE id = 11`);
    const xid = await xidOf(writer);
    const inc = new IncrementalSnapshot({
      name,
      db: endpoints.postgres.database,
      prefix: name,
      client: db,
      topics,
      transforms,
      chunkRows: 100,
      readers,
      pending: [`public.${table}`],
      initialTables: new Set([`public.${table}`]),
      initialChunkRows: 100,
      state: null,
      logger: noopLogger,
    });
    // The stream delivered the update (the race: its commit record is in the WAL, it is not
    // visible yet) before the window started; it becomes visible while the window is read.
    inc.streamed('public', table, key(11), xid);
    const reading = inc.startChunk();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await writer.query('COMMIT');
    await reading;
    const chunkId = `${inc.progress?.id}:1`;
    expect(inc.watermark(Buffer.from(`low:${chunkId}`))).toBe('low');
    expect(inc.watermark(Buffer.from(`high:${chunkId}`))).toBe('high');
    const records = inc.high({
      name,
      db: endpoints.postgres.database,
      finalLsn: 0x2000n,
      lsn: 0x2000n,
      index: 0,
      xid: xid + 1,
      commitTimeUsec: 0n,
    });
    const read = new Map<string, number>();
    for (const r of records) {
      const value = (await serde.deserialize(r.value as Buffer)) as { after: { id: unknown; v: number } };
      read.set(String(value.after.id), value.after.v);
    }
    // The read carries the delivered update's state, not the row before it.
    expect(read.get('11')).toBe(2);
    expect(read.size).toBe(50);
  });
});

/**
 * new-table-mid-run: a pipeline started with `cdc up` (capture-postgres, capture-mongo and the
 * sink on the embedded engine) captures a table created in `public` while it runs and a
 * collection created while it runs: both reach ClickHouse without a restart or a config change,
 * and `cdc verify` passes for every table and collection, the new ones included.
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  buildPackages,
  cdcCommand,
  createSourceDatabase,
  dropScenario,
  freePort,
  pgOwner,
  scenarioFiles,
  scenarioPipeline,
  tearDownScenario,
} from '@cdc/testkit';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';

const ep = localEndpoints();
const id = `nt_${process.pid}_${Date.now().toString(36)}`;
const files = scenarioFiles('new-table');
// A port the OS says is free: a range by pid reached the stack's own (Kafka's 19092).
const httpPort = await freePort();
const cdcUser = () => pgOwner(id);
const cdc = cdcCommand(files);
const dropAll = () => dropScenario(id, { mongo: true });

beforeAll(async () => {
  const build = buildPackages(
    'services/cli',
    'services/capture-postgres',
    'services/capture-mongo',
    'services/sink-clickhouse',
  );
  expect(build.status, build.out).toBe(0);
  await dropAll().catch(() => undefined);
  await createSourceDatabase(id, async (db) => {
    await db.query(`CREATE TABLE public.customers (id bigint PRIMARY KEY, name text NOT NULL, region text)`);
    await db.query(
      `INSERT INTO public.customers SELECT g, 'customer ' || g, (ARRAY['north','south'])[1 + g % 2] FROM generate_series(1, 200) g`,
    );
  });
  const mongo = new MongoClient(ep.mongo.url);
  await mongo.connect();
  await mongo
    .db(id)
    .collection<{ _id: string; items: { sku: number; qty: number }[]; open: boolean }>('carts')
    .insertMany(
      Array.from({ length: 50 }, (_, i) => ({ _id: `cart-${i}`, items: [{ sku: i, qty: 1 }], open: true })),
    );
  await mongo.close();
  writeFileSync(
    files.config,
    scenarioPipeline({
      id,
      dir: files.dir,
      httpPort,
      database: 'nt',
      sinkTopics: `^${id}(_docs)?\\.`,
      mongo: true,
    }),
  );
}, 120_000);

afterAll(() => tearDownScenario({ id, files, cdc, drop: { mongo: true } }), 120_000);

it('captures a table and a collection created mid-run, and verify passes for all', {
  timeout: 240_000,
}, async () => {
  const t0 = Date.now();
  const up = cdc('up');
  expect(up.status, up.out).toBe(0);
  expect(up.out).toMatch(/sink-clickhouse: started/);
  expect(up.out).toMatch(/capture-postgres: started/);

  // Changes to the existing table, then a table and a collection that did not exist at start.
  const client = cdcUser();
  await client.connect();
  const mongo = new MongoClient(ep.mongo.url);
  await mongo.connect();
  try {
    await client.query(`UPDATE public.customers SET region = 'east' WHERE id <= 20`);
    await sleep(3_000);
    await client.query(
      `CREATE TABLE public.reviews (id bigint PRIMARY KEY, customer_id bigint NOT NULL, stars int, body text, at timestamptz DEFAULT now())`,
    );
    for (let i = 1; i <= 100; i++)
      await client.query(
        'INSERT INTO public.reviews (id, customer_id, stars, body) VALUES ($1, $2, $3, $4)',
        [i, 1 + (i % 200), 1 + (i % 5), `review ${i}`],
      );
    await client.query('UPDATE public.reviews SET stars = 5 WHERE id % 10 = 0');
    await client.query('DELETE FROM public.reviews WHERE id > 95');
    await client.query(`DELETE FROM public.customers WHERE id > 190`);
    await mongo
      .db(id)
      .collection('wishlists')
      .insertMany(
        Array.from({ length: 30 }, (_, i) => ({
          owner: i,
          skus: [i, i + 1],
          note: i % 3 === 0 ? null : `n${i}`,
        })),
      );
    await mongo
      .db(id)
      .collection<{ _id: string; open: boolean }>('carts')
      .updateOne({ _id: 'cart-1' }, { $set: { open: false } });
  } finally {
    await client.end();
    await mongo.close();
  }

  // Verify while the pipeline runs (it waits for the capture and the sink), through the sink's endpoint.
  const v = cdc('verify', '--timeout', '90');
  const out = v.out;
  expect(out, out.slice(-4000)).toMatch(/verify: OK — 4 table\(s\) match/);
  expect(out).toMatch(/ok +public\.customers +190 \/ 190 rows/);
  expect(out).toMatch(/ok +public\.reviews +95 \/ 95 rows/);
  expect(out).toMatch(new RegExp(`ok +${id}\\.carts +50 / 50 rows`));
  expect(out).toMatch(new RegExp(`ok +${id}\\.wishlists +30 / 30 rows`));
  expect(v.status).toBe(0);
  process.stdout.write(
    `new-table-mid-run: verify passed ${((Date.now() - t0) / 1000).toFixed(0)} s after cdc up\n${out}`,
  );

  const down = cdc('down');
  expect(down.status, down.out).toBe(0);

  // With the pipeline stopped, changes at the source are differences that verify names.
  const pgc = cdcUser();
  await pgc.connect();
  await pgc.query(`UPDATE public.customers SET name = 'renamed' WHERE id = 7`);
  await pgc.end();
  const m = new MongoClient(ep.mongo.url);
  await m.connect();
  await m
    .db(id)
    .collection('wishlists')
    .updateOne({ owner: 3 }, { $set: { note: 'changed' } });
  await m.close();
  const bad = cdc('verify', '--timeout', '6');
  expect(bad.status, bad.out).toBe(1);
  expect(bad.out).toMatch(/MISMATCH public\.customers +190 \/ 190 rows/);
  expect(bad.out).toContain('key 7: source {"name":"renamed"}  clickhouse {"name":"customer 7"}');
  expect(bad.out).toMatch(new RegExp(`MISMATCH ${id}\\.wishlists +30 / 30 rows`));
  // The document's note was null (listed in __cdc_nulls) and is now a string.
  expect(bad.out).toContain(
    'source {"note":"\\"changed\\"","__cdc_nulls":"[]"}  clickhouse {"note":"null","__cdc_nulls":"[\\"note\\"]"}',
  );
  expect(bad.out).toMatch(/verify: FAILED — 2 of 4 table\(s\) differ/);
});

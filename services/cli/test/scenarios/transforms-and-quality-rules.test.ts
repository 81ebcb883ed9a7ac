/**
 * transforms-and-quality-rules: the pipeline file's per-table transforms and data-quality rules,
 * under `cdc up`, against the real servers:
 *
 * - a filtered table whose rows move in and out of the filter (snapshot rows, inserts, updates
 *   both ways, deletes) ends equal to the filtered source query, with an excluded column absent,
 *   a renamed one renamed, a computed one computed and a hashed one equal to HMAC(salt, value);
 * - `cdc verify` applies the same filter and projection to the source, so that replica verifies;
 * - the plaintext of the excluded and the masked columns appears in no byte of any Kafka record
 *   the capture wrote (table, quarantine and dead-letter topics);
 * - a `quarantine` rule keeps the broken row out of ClickHouse and lists it with the rule and
 *   the value (`cdc quarantine list`); once the row is fixed in the source it arrives and leaves
 *   the list;
 * - the same for MongoDB documents (dotted field paths): a nested filter, a nested excluded
 *   field, a masked one, a quarantined document; no plaintext in Kafka;
 * - a `stop` rule stops only its table, with an error naming the rule, the key and the fix; the
 *   other tables flow; after the row is fixed in the source, `cdc quarantine replay` brings the
 *   held rows into ClickHouse and the table flows again.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Hostile, openHostile } from './hostile/harness.ts';

const SALT = 'scenario-salt-0123456789';
let h: Hostile;

beforeAll(async () => {
  process.env.CDC_SCENARIO_MASK_SALT = SALT;
  // The harness names everything h_<area>_<pid>; the MongoDB source's entries name `<db>.<collection>`.
  const db = `h_transforms_${process.pid}`;
  h = await openHostile('transforms', {
    mongoExtra: `
maskSalt: \${CDC_SCENARIO_MASK_SALT}
tables:
  ${db}.people:
    filter: "address.city = 'Paris' and active"
    columns:
      exclude: [address.street]
      mask: { email: hash }
    quality:
      - { rule: range, column: age, min: 0, max: 150, action: quarantine }`,
    postgresExtra: `
maskSalt: \${CDC_SCENARIO_MASK_SALT}
tables:
  public.customers:
    filter: "status = 'active' and country in ('FR', 'DE')"
    columns:
      exclude: [ssn]
      rename: { note: remark }
      mask: { email: hash }
      computed: { country_lower: "lower(country)" }
  public.orders:
    quality:
      - { rule: range, column: amount, min: 0, action: quarantine }
      - { rule: max_length, column: label, max: 10, action: count }
  public.payments:
    quality:
      - { rule: in_set, column: status, values: [ok, pending], action: stop }`,
  });
  await h.sql(
    'CREATE TABLE public.customers (id bigint PRIMARY KEY, email text, ssn text, status text, country text, note text)',
  );
  await h.sql(`INSERT INTO public.customers VALUES
    (1, 'ada@secret-mail.test', 'SSN-000-0001', 'active', 'FR', 'n1'),
    (2, 'bob@secret-mail.test', 'SSN-000-0002', 'inactive', 'FR', 'n2'),
    (3, 'cy@secret-mail.test', 'SSN-000-0003', 'active', 'US', 'n3'),
    (4, 'di@secret-mail.test', 'SSN-000-0004', 'active', 'DE', 'n4')`);
  await h.sql('CREATE TABLE public.orders (id bigint PRIMARY KEY, amount int, label text)');
  await h.sql('CREATE TABLE public.payments (id bigint PRIMARY KEY, status text)');
}, 120_000);

afterAll(async () => {
  await h?.close();
  delete process.env.CDC_SCENARIO_MASK_SALT;
}, 180_000);

const hash = (v: string) => createHmac('sha256', SALT).update(v).digest('hex');

it('a filtered, projected and masked table ends equal to the filtered source query, and no plaintext reaches Kafka', {
  timeout: 240_000,
}, async () => {
  const customers = h.pgTable('customers');
  h.up();
  await h.waitRows(`SELECT id FROM h.${customers} FINAL`, (r) => r.length === 2);
  // Stream: in by insert, in by update, out by update, out by delete, never in.
  await h.sql(`INSERT INTO public.customers VALUES (5, 'eve@secret-mail.test', 'SSN-000-0005', 'active', 'DE', 'n5'),
    (6, 'fay@secret-mail.test', 'SSN-000-0006', 'active', 'IT', 'n6')`);
  await h.sql(`UPDATE public.customers SET status = 'active' WHERE id = 2`);
  await h.sql(`UPDATE public.customers SET status = 'closed' WHERE id = 1`);
  await h.sql(`UPDATE public.customers SET country = 'FR' WHERE id = 3`);
  await h.sql(`UPDATE public.customers SET country = 'US' WHERE id = 3`);
  await h.sql('DELETE FROM public.customers WHERE id = 4');
  await h.sql(`UPDATE public.customers SET note = 'still out' WHERE id = 6`);
  const expected = (
    await h.sql<{ id: string; email: string; note: string; country: string }>(
      `SELECT id::text, email, note, country FROM public.customers WHERE status = 'active' AND country IN ('FR', 'DE') ORDER BY id`,
    )
  ).map((r) => ({ id: r.id, email: hash(r.email), remark: r.note, country_lower: r.country.toLowerCase() }));
  expect(expected.map((r) => r.id)).toEqual(['2', '5']);
  const rows = await h.waitRows<Record<string, unknown>>(
    `SELECT toString(id) AS id, email, remark, country_lower FROM h.${customers} FINAL ORDER BY id`,
    (r) => JSON.stringify(r) === JSON.stringify(expected),
  );
  expect(rows).toEqual(expected);
  const columns = await h.query<{ name: string }>(
    `SELECT name FROM system.columns WHERE database = 'h' AND table = '${customers}'`,
  );
  expect(columns.map((c) => c.name)).not.toContain('ssn');
  expect(columns.map((c) => c.name)).not.toContain('note');

  // Every byte the capture wrote about this table, in any topic.
  const plaintext = (
    await h.sql<{ email: string; ssn: string }>('SELECT email, ssn FROM public.customers')
  ).flatMap((r) => [r.email, r.ssn]);
  plaintext.push('ada@secret-mail.test', 'SSN-000-0001', 'di@secret-mail.test', 'SSN-000-0004');
  const topics = [h.pgTopic('customers'), `${h.id}.dead-letter`];
  let scanned = 0;
  for (const topic of topics) {
    for (const r of await h.readTopic(topic).catch(() => [])) {
      const bytes = Buffer.concat([Buffer.from(r.key, 'base64'), r.value ?? Buffer.alloc(0)]);
      scanned += 1;
      for (const p of plaintext) expect(bytes.includes(Buffer.from(p)), `${topic} holds ${p}`).toBe(false);
    }
  }
  expect(scanned).toBeGreaterThanOrEqual(9);

  // `cdc verify` reads the source as the capture writes it: filtered, projected, masked.
  const v = h.cdc('verify', '--source', h.id, '--timeout', '60');
  expect(v.status, v.out).toBe(0);
  expect(v.out).toMatch(/ok +public\.customers +2 \/ 2 rows/);
});

it('a quarantine rule keeps the broken row out and lists it; a stop rule stops only its table, names the rule, the key and the fix, and a replay after the fix brings the held rows in', {
  timeout: 300_000,
}, async () => {
  const orders = h.pgTable('orders');
  const payments = h.pgTable('payments');
  await h.sql(`INSERT INTO public.orders VALUES (1, 10, 'short'), (2, -5, 'x'), (3, 7, 'a long label')`);
  await h.waitRows(`SELECT id FROM h.${orders} FINAL ORDER BY id`, (r) => r.length === 2);
  expect(await h.query(`SELECT toString(id) AS id FROM h.${orders} FINAL ORDER BY id`)).toEqual([
    { id: '1' },
    { id: '3' },
  ]);
  const listed = h.cdc('quarantine', 'list', 'public.orders');
  expect(listed.status, listed.out).toBe(0);
  expect(listed.out).toContain('public.orders  key {"id":"2"}  rules range:amount');
  expect(listed.out).toContain('rule range:amount broken by -5 (expected in [0, ∞])');
  // The row fixed in the source: it arrives, and its quarantine entry is resolved.
  await h.sql('UPDATE public.orders SET amount = 5 WHERE id = 2');
  await h.waitRows(`SELECT id FROM h.${orders} FINAL WHERE id = 2`, (r) => r.length === 1);
  expect(h.cdc('quarantine', 'list', 'public.orders').out).toContain('no quarantined rows');

  await h.sql(`INSERT INTO public.payments VALUES (1, 'ok')`);
  await h.waitRows(`SELECT id FROM h.${payments} FINAL`, (r) => r.length === 1);
  await h.sql(`INSERT INTO public.payments VALUES (2, 'bogus')`);
  await h.sql(`INSERT INTO public.payments VALUES (3, 'pending')`);
  // Only payments stops: the other tables flow.
  await h.sql(`INSERT INTO public.orders VALUES (4, 1, 'after')`);
  await h.waitRows(`SELECT id FROM h.${orders} FINAL WHERE id = 4`, (r) => r.length === 1);
  await h.assertFlowing();
  const log = h.log('capture-postgres');
  expect(log).toContain(
    'public.payments: quality rule in_set:status (action stop) broken by the row with key {\\"id\\":\\"2\\"}: status is \\"bogus\\"',
  );
  expect(log).toContain('run `cdc quarantine replay public.payments`');
  expect(await h.query(`SELECT toString(id) AS id FROM h.${payments} FINAL`)).toEqual([{ id: '1' }]);
  // `cdc status` names the stopped table and its fix, and shows the tables' figures.
  let status = h.cdc('status');
  for (let i = 0; i < 20 && !/quarantined 2; violations: in_set:status/.test(status.out); i++) {
    await new Promise((r) => setTimeout(r, 500));
    status = h.cdc('status');
  }
  expect(status.status, status.out).toBe(1);
  expect(status.out).toContain(
    'attention: table public.payments stopped by a quality rule: public.payments: quality rule in_set:status',
  );
  expect(status.out).toMatch(
    /transforms public\.payments: passed 1, filtered 0, quarantined 2; violations: in_set:status \(stop\) 1/,
  );
  expect(status.out).toMatch(
    /transforms public\.orders: passed 4, filtered 0, quarantined 1; violations: .*range:amount \(quarantine\) 1/,
  );
  const held = h.cdc('quarantine', 'list', 'public.payments');
  expect(held.out).toContain('key {"id":"2"}');
  expect(held.out).toContain('key {"id":"3"}');

  // The fix in the source, then the replay: the held rows arrive, the table flows again.
  await h.sql(`UPDATE public.payments SET status = 'ok' WHERE id = 2`);
  const replay = h.cdc('quarantine', 'replay', 'public.payments');
  expect(replay.status, replay.out).toBe(0);
  await h.waitRows<{ id: string; status: string }>(
    `SELECT toString(id) AS id, status FROM h.${payments} FINAL ORDER BY id`,
    (r) =>
      JSON.stringify(r) ===
      JSON.stringify([
        { id: '1', status: 'ok' },
        { id: '2', status: 'ok' },
        { id: '3', status: 'pending' },
      ]),
  );
  await h.sql(`INSERT INTO public.payments VALUES (4, 'ok')`);
  await h.waitRows(`SELECT id FROM h.${payments} FINAL WHERE id = 4`, (r) => r.length === 1);
  expect(h.cdc('quarantine', 'list', 'public.payments').out).toContain('no quarantined rows');
});

it('MongoDB documents: a filter on a nested field, an excluded nested field and a mask; documents moving in and out; a quarantined document', {
  timeout: 180_000,
}, async () => {
  const people = h.mongo.collection<{ _id: number; [field: string]: unknown }>('people');
  const doc = (id: number, city: string, active: boolean, age = 30) => ({
    _id: id,
    email: `p${id}@secret-mail.test`,
    age,
    active,
    address: { city, street: `${id} Secret Street` },
  });
  await people.insertMany([doc(1, 'Paris', true), doc(2, 'Lyon', true), doc(3, 'Paris', false)]);
  await people.updateOne({ _id: 2 }, { $set: { 'address.city': 'Paris' } }); // moves in
  await people.updateOne({ _id: 1 }, { $set: { active: false } }); // moves out
  await people.insertOne(doc(4, 'Paris', true, 900)); // quarantined
  await people.insertOne(doc(5, 'Paris', true));
  const table = `h.${h.id}_docs_${h.id}_people`;
  const rows = await h.waitRows<{ id: string; email: string }>(
    `SELECT _id AS id, email FROM ${table} FINAL ORDER BY _id`,
    (r) => r.map((x) => x.id).join(',') === '2,5',
  );
  expect(rows.map((r) => r.email)).toEqual([hash('p2@secret-mail.test'), hash('p5@secret-mail.test')]);
  const listed = h.cdc('quarantine', 'list', `${h.id}.people`);
  expect(listed.out).toContain('rules range:age');
  let scanned = 0;
  for (const topic of [h.mongoTopic('people'), `${h.id}_docs.quarantine`]) {
    for (const r of await h.readTopic(topic)) {
      const bytes = Buffer.concat([Buffer.from(r.key, 'base64'), r.value ?? Buffer.alloc(0)]);
      scanned += 1;
      for (const p of ['@secret-mail.test', 'Secret Street'])
        expect(bytes.includes(Buffer.from(p)), `${topic} holds ${p}`).toBe(false);
    }
  }
  expect(scanned).toBeGreaterThanOrEqual(4);
});

/**
 * blast-radius: one table's trouble stays that table's. Under `cdc up`:
 *
 * - a PostgreSQL column widened at the source (`int4 → int8`, `numeric(10,2) → numeric(14,4)`)
 *   is widened in place in ClickHouse, with no stop and every value exact;
 * - a change ClickHouse cannot apply in place (`numeric(10,2) → numeric(10,1)`) stops that table
 *   only: the ordinary table and the widened one keep flowing, the stopped table keeps its rows
 *   and holds its records uncommitted, and `cdc status` names the table, the message and the fix
 *   (`cdc down; cdc rebuild …; cdc up`), and exits 1;
 * - after that fix the table has the new type (the rows before the change cast as PostgreSQL cast
 *   them), the held records arrive, `cdc status` exits 0 and `cdc verify` passes for every table;
 * - a table whose topic Kafka refuses (it collides with another table's) is dead-lettered with
 *   the reason and the fix, shown in `cdc status`; the capture of the others goes on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Hostile, openHostile } from './harness.ts';

let h: Hostile;

beforeAll(async () => {
  h = await openHostile('blast');
  await h.sql('CREATE TABLE public.widened (id int PRIMARY KEY, n int4 NOT NULL, price numeric(10,2))');
  await h.sql(`INSERT INTO public.widened VALUES (1, 7, 12.34), (2, -2147483648, NULL)`);
  await h.sql('CREATE TABLE public.narrowed (id int PRIMARY KEY, amount numeric(10,2))');
  await h.sql(`INSERT INTO public.narrowed VALUES (1, 1.11), (2, 2.22)`);
}, 120_000);

afterAll(async () => {
  await h?.close();
}, 180_000);

async function statusUntil(
  until: (s: { status: number | null; out: string }) => boolean,
  timeoutMs = 90_000,
): Promise<{ status: number | null; out: string }> {
  const t0 = Date.now();
  for (;;) {
    const s = h.cdc('status');
    if (until(s)) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`status never matched:\n${s.out}`);
    await sleep(2_000);
  }
}

it('widens columns in place; a change that cannot be applied stops only its table, status names it and the fix, and the fix loses nothing', {
  timeout: 420_000,
}, async () => {
  const widened = h.pgTable('widened');
  const narrowed = h.pgTable('narrowed');
  h.up();
  await h.waitRows(`SELECT id FROM h.${narrowed} FINAL`, (r) => r.length === 2);
  await h.waitRows(`SELECT id FROM h.${widened} FINAL`, (r) => r.length === 2);

  // Widening at the source: the ClickHouse columns follow in place.
  await h.sql('ALTER TABLE public.widened ALTER COLUMN n TYPE int8, ALTER COLUMN price TYPE numeric(14,4)');
  await h.sql(`INSERT INTO public.widened VALUES (3, 5000000000, 123456.7891)`);
  await h.sql(`UPDATE public.widened SET n = -9223372036854775808 WHERE id = 2`);
  const rows = await h.waitRows<{ id: number; n: string; price: string | null }>(
    `SELECT id, toString(n) AS n, toString(price) AS price FROM h.${widened}_current ORDER BY id`,
    (r) => r.length === 3 && r[1]?.n === '-9223372036854775808',
  );
  expect(rows).toEqual([
    { id: 1, n: '7', price: '12.34' },
    { id: 2, n: '-9223372036854775808', price: null },
    { id: 3, n: '5000000000', price: '123456.7891' },
  ]);
  const types = await h.query<{ name: string; type: string }>(
    `SELECT name, type FROM system.columns WHERE database = 'h' AND table = '${widened}' AND name IN ('n', 'price') ORDER BY name`,
  );
  expect(types).toEqual([
    { name: 'n', type: 'Int64' },
    { name: 'price', type: 'Nullable(Decimal(14, 4))' },
  ]);
  expect(h.log('sink-clickhouse')).toContain('columns widened in place');
  expect(h.log('sink-clickhouse')).not.toContain('table stopped');

  // A change ClickHouse cannot apply in place (a scale lowered): only that table stops.
  await h.sql('ALTER TABLE public.narrowed ALTER COLUMN amount TYPE numeric(10,1)');
  await h.sql(`INSERT INTO public.narrowed VALUES (3, 3.3)`);
  await h.sql(`UPDATE public.narrowed SET amount = 20.2 WHERE id = 2`);
  const stopped = await statusUntil((s) => s.out.includes(`attention: table ${narrowed}: stopped`));
  expect(stopped.status, stopped.out).toBe(1);
  expect(stopped.out).toContain('SCHEMA_INCOMPATIBLE');
  expect(stopped.out).toContain(
    'column amount would change type from Nullable(Decimal(10, 2)) to Nullable(Decimal(10, 1))',
  );
  expect(stopped.out).toContain(`cdc down; cdc rebuild ${narrowed}; cdc up`);
  expect(stopped.out).toContain('cast to the new type');
  expect(h.log('sink-clickhouse')).toContain('table stopped');
  // Everything else flows: the ordinary table, and the widened table next to it.
  await h.assertFlowing();
  await h.sql(`INSERT INTO public.widened VALUES (4, 4, 4.4444)`);
  await h.waitRows(`SELECT id FROM h.${widened}_current WHERE id = 4`, (r) => r.length === 1);
  // The stopped table keeps what it had; its held records are not committed (read again after the fix).
  expect(
    await h.query(`SELECT id, toString(amount) AS amount FROM h.${narrowed}_current ORDER BY id`),
  ).toEqual([
    { id: 1, amount: '1.11' },
    { id: 2, amount: '2.22' },
  ]);
  await h.assertFlowing();

  // The named fix: the pipeline stopped, the table rebuilt from its topic (the rows before the
  // change cast to numeric(10,1), as PostgreSQL cast them), the pipeline started again. The
  // held records arrive, nothing is lost, status is clean and verify passes for every table.
  h.down();
  const rebuilt = h.cdc('rebuild', narrowed);
  expect(rebuilt.status, rebuilt.out).toBe(0);
  h.up();
  const after = await h.waitRows<{ id: number; amount: string }>(
    `SELECT id, toString(amount) AS amount FROM h.${narrowed}_current ORDER BY id`,
    (r) => r.length === 3,
  );
  expect(after).toEqual([
    { id: 1, amount: '1.1' },
    { id: 2, amount: '20.2' },
    { id: 3, amount: '3.3' },
  ]);
  const narrowedType = await h.query<{ type: string }>(
    `SELECT type FROM system.columns WHERE database = 'h' AND table = '${narrowed}' AND name = 'amount'`,
  );
  expect(narrowedType).toEqual([{ type: 'Nullable(Decimal(10, 1))' }]);
  const clean = await statusUntil((s) => s.status === 0);
  expect(clean.out).not.toContain('attention:');
  const verified = h.cdc('verify', '--timeout', '90');
  expect(verified.status, verified.out.slice(-3000)).toBe(0);
  await h.assertFlowing();

  // Two tables whose topics Kafka refuses side by side (`s_x.y` and `s.x_y`: '.' and '_' alike in
  // topic names): the first is captured, the second's changes are dead-lettered naming both
  // topics and the fix; everything else flows.
  await h.sql('CREATE SCHEMA s_x; CREATE SCHEMA s');
  await h.sql(
    'CREATE TABLE s_x.y (id int PRIMARY KEY, v text); CREATE TABLE s.x_y (id int PRIMARY KEY, v text)',
  );
  await h.superSql(`ALTER PUBLICATION ${h.id} ADD TABLES IN SCHEMA s_x, s`);
  await h.sql(`INSERT INTO s_x.y VALUES (1, 'first')`);
  await sleep(3_000);
  await h.sql(`INSERT INTO s.x_y VALUES (1, 'second'), (2, 'second')`);
  await h.assertFlowing();
  const first = `${h.id}_${h.id}_s_x_y`;
  expect(await h.waitRows(`SELECT id, v FROM h.${first}_current`, (r) => r.length === 1)).toEqual([
    { id: 1, v: 'first' },
  ]);
  const letters = await waitFor(async () => {
    const l = (await h.deadLetters()).filter(
      (d) => d.headers['cdc.source.topic'] === `${h.id}.${h.id}.s.x_y`,
    );
    return l.length === 2 ? l : undefined;
  });
  expect(letters[0]?.headers['cdc.error.code']).toBe('POISON_RECORD');
  expect(letters[0]?.headers['cdc.error.message']).toContain(
    `topic ${h.id}.${h.id}.s.x_y collides with the existing topic ${h.id}.${h.id}.s_x.y`,
  );
  expect(letters[0]?.headers['cdc.error.message']).toContain('give the source another topicPrefix');
  const status = await statusUntil((s) => s.out.includes('attention: dead letters table s.x_y'));
  expect(status.status).toBe(1);
  await h.assertFlowing();
});

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`nothing after ${timeoutMs / 1000} s`);
    await sleep(1_000);
  }
}

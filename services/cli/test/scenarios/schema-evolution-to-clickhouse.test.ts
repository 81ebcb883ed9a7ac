/**
 * schema-evolution-to-clickhouse: the rows of docs/schema-evolution.md, each through the whole
 * pipeline (capture-postgres → Kafka → sink-clickhouse) started with `cdc up`, on one table the
 * user keeps querying under its own name:
 *
 * - widening (int2 → int4, int4 → int8, float4 → float8, varchar(10) → varchar(50) → text,
 *   numeric(8,2) → numeric(12,4), NOT NULL dropped): a compatible schema version, the column
 *   changed in place (`MODIFY COLUMN`; the primary key's `int4 → int8` by a copy of the table,
 *   as ClickHouse cannot change a key column in place), the same table, no stop;
 * - a column added with a constant default (NOT NULL and nullable): the default is in the Avro
 *   schema and on the ClickHouse column, so rows written before read it;
 * - a column dropped: it stays in ClickHouse, NULL from then on;
 * - a column renamed (recognised by its attnum, a NOT NULL one included): the ClickHouse column
 *   is renamed, its values and history kept;
 * - an incompatible change (text → int): with `schemaEvolution: stop` (the default) the capture
 *   stops with an error naming the table, the column, the change and the fix, and nothing forks
 *   into a `.v2` topic; switched to `recreate` (source and sink), the new schema goes under the
 *   same subject, the table is read again, and the sink moves the old table aside as
 *   `<t>__before_<schema id>` and fills a new one under the user's name;
 *
 * and after each step `cdc verify` passes with every row in the table the user knows.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryClient } from '@cdc/avro';
import { createJsonLogger } from '@cdc/core';
import { createKafka, KafkaConfigSchema } from '@cdc/kafka';
import {
  buildPackages,
  cdcCommand,
  dropScenario,
  freePort,
  pgSuperuser,
  scenarioFiles,
  scenarioPipeline,
} from '@cdc/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';

const ep = localEndpoints();
const id = `evo20_${process.pid}_${Date.now().toString(36)}`;
const files = scenarioFiles('evo20');
const { stateDir } = files;
const topic = `${id}.${id}.public.items`;
const chTable = `evo.${topic.replace(/[^A-Za-z0-9_]/g, '_')}`;

const superuser = pgSuperuser;
const cdc = cdcCommand(files);
const dropAll = () => dropScenario(id);

/** A query on the sink's read endpoint (the embedded ClickHouse); again when an idle kept-alive connection was closed under it. */
async function clickhouse<T>(sql: string): Promise<T[]> {
  const url = `http://127.0.0.1:${httpPort}/?query=${encodeURIComponent(`${sql} FORMAT JSONEachRow`)}`;
  let res: Response | undefined;
  for (let attempt = 0; !res; attempt++) {
    try {
      res = await fetch(url);
    } catch (err) {
      if (attempt >= 3) throw err;
      await sleep(200);
    }
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status}: ${text}`);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

let db: pg.Client;
/** The sink's read endpoint: a port free when the test starts. */
let httpPort = 0;

/** The pipeline file: the defaults (`stop`), or `recreate` at the source and in the sink. */
function writeConfig(policy: 'stop' | 'recreate'): void {
  writeFileSync(
    files.config,
    scenarioPipeline({
      id,
      dir: files.dir,
      httpPort,
      database: 'evo',
      sinkTopics: `^${id}\\.${id}\\.`,
      postgres: `heartbeatIntervalMs: 1000${policy === 'recreate' ? '\nschemaEvolution: recreate' : ''}`,
      sink: policy === 'recreate' ? 'onIncompatibleSchema: recreate' : undefined,
    }),
  );
}

beforeAll(async () => {
  const build = buildPackages('services/cli', 'services/capture-postgres', 'services/sink-clickhouse');
  expect(build.status, build.out).toBe(0);
  await dropAll().catch(() => undefined);
  const admin = superuser('postgres');
  await admin.connect();
  await admin.query(`CREATE DATABASE ${id} OWNER cdc`);
  await admin.end();
  db = superuser(id);
  await db.connect();
  await db.query('SET ROLE cdc');
  await db.query(
    `CREATE TABLE public.items (id int PRIMARY KEY, small int2 NOT NULL, n int4, f float4, label varchar(10),
       amount numeric(8,2), must int4 NOT NULL, gone text)`,
  );
  await db.query(
    `INSERT INTO public.items SELECT g, g, g * 10, g / 4.0, 'l' || g, g + 0.25, g, 'gone ' || g FROM generate_series(1, 100) g`,
  );
  // A partitioned table with rows in three partitions.
  await db.query(
    `CREATE TABLE public.events (id int, region text NOT NULL, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`,
  );
  for (const r of ['north', 'south', 'east'])
    await db.query(`CREATE TABLE public.events_${r} PARTITION OF public.events FOR VALUES IN ('${r}')`);
  await db.query(
    `INSERT INTO public.events SELECT g, (ARRAY['north', 'south', 'east'])[1 + g % 3], g FROM generate_series(1, 300) g`,
  );
  // Owned by the capture's user and without publish_via_partition_root: the capture sets it.
  await db.query(`CREATE PUBLICATION ${id} FOR TABLE public.items, public.events`);
  httpPort = await freePort();
  writeConfig('stop');
}, 120_000);

afterAll(async () => {
  cdc('down');
  await db?.end().catch(() => undefined);
  await dropAll().catch(() => undefined);
  files.remove();
}, 120_000);

/** `cdc verify` passes with `rows` rows in public.items. */
function verifyPasses(rows: number): void {
  const t0 = Date.now();
  const v = cdc('verify', '--timeout', '60');
  process.stdout.write(`schema-evolution-to-clickhouse: verify passed in ${Date.now() - t0} ms\n`);
  expect(v.out, v.out.slice(-4000)).toMatch(/verify: OK — 2 table\(s\) match/);
  expect(v.out).toMatch(new RegExp(`ok +public\\.items +${rows} / ${rows} rows`));
  expect(v.status).toBe(0);
}

async function columnTypes(): Promise<Record<string, string>> {
  const [database, table] = chTable.split('.') as [string, string];
  const rows = await clickhouse<{ name: string; type: string; default_expression: string }>(
    `SELECT name, type, default_expression FROM system.columns WHERE database = '${database}' AND table = '${table}'`,
  );
  return Object.fromEntries(
    rows.map((r) => [r.name, r.default_expression ? `${r.type} DEFAULT ${r.default_expression}` : r.type]),
  );
}

it('widens, adds with defaults, drops, and stops or recreates on an incompatible change; verify passes after each step', {
  timeout: 300_000,
}, async () => {
  const up = cdc('up');
  expect(up.status, up.out).toBe(0);
  verifyPasses(100);
  const tablesBefore = await clickhouse<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = 'evo'`,
  );

  // Widening, every kind at once, then rows that need the wider types.
  await db.query(`ALTER TABLE public.items ALTER COLUMN id TYPE int8, ALTER COLUMN small TYPE int4, ALTER COLUMN n TYPE int8,
    ALTER COLUMN f TYPE float8, ALTER COLUMN label TYPE varchar(50), ALTER COLUMN amount TYPE numeric(12,4),
    ALTER COLUMN must DROP NOT NULL`);
  await db.query(
    `INSERT INTO public.items VALUES (101, 100000, 5000000000, 0.1, 'a label longer than ten', 12345678.1234, NULL, 'x')`,
  );
  await db.query(`UPDATE public.items SET n = n + 4000000000 WHERE id <= 10`);
  await db.query(`ALTER TABLE public.items ALTER COLUMN label TYPE text`);
  await db.query(`UPDATE public.items SET label = repeat('t', 200) WHERE id = 2`);
  verifyPasses(101);
  const widened = await columnTypes();
  expect(widened).toMatchObject({
    id: 'Int64',
    small: 'Int32',
    n: 'Nullable(Int64)',
    f: 'Nullable(Float64)',
    amount: 'Nullable(Decimal(12, 4))',
    must: 'Nullable(Int32)',
  });
  expect(widened.label).toMatch(/^Nullable\(String\)/);

  // Columns added with constant defaults: rows written before read the default.
  await db.query(`ALTER TABLE public.items ADD COLUMN status text NOT NULL DEFAULT 'new',
    ADD COLUMN qty int DEFAULT 7, ADD COLUMN price numeric(10,2) NOT NULL DEFAULT 9.99`);
  await db.query(
    `INSERT INTO public.items (id, small, must, status, qty) VALUES (102, 1, 1, 'shipped', NULL)`,
  );
  await db.query(`UPDATE public.items SET status = 'paid' WHERE id = 3`);
  verifyPasses(102);
  expect(
    await clickhouse(
      `SELECT id, status, qty, price FROM ${chTable} FINAL WHERE id IN (1, 3, 102) ORDER BY id`,
    ),
  ).toEqual([
    { id: 1, status: 'new', qty: 7, price: 9.99 },
    { id: 3, status: 'paid', qty: 7, price: 9.99 },
    { id: 102, status: 'shipped', qty: null, price: 9.99 },
  ]);

  // A dropped column stays in ClickHouse, NULL from the next change of each row on.
  await db.query(`ALTER TABLE public.items DROP COLUMN gone, DROP COLUMN price`);
  await db.query(`UPDATE public.items SET qty = 8 WHERE id = 4`);
  verifyPasses(102);
  expect(
    await clickhouse(`SELECT id, gone, price FROM ${chTable} FINAL WHERE id IN (4, 5) ORDER BY id`),
  ).toEqual([
    { id: 4, gone: null, price: null },
    { id: 5, gone: 'gone 5', price: 9.99 },
  ]);
  // A NOT NULL column dropped became Nullable: NULL, not 0, from each row's next change on.
  expect((await columnTypes()).price).toBe('Nullable(Decimal(10, 2))');

  // Renames, recognised by the column's attnum (a NOT NULL one too): the ClickHouse column is
  // renamed, every row and the history keep their values.
  // In one transaction, so that changes before and after the renames share a sink batch.
  await db.query('BEGIN');
  await db.query(`UPDATE public.items SET qty = 10 WHERE id = 7`);
  await db.query(`ALTER TABLE public.items RENAME COLUMN small TO tiny`);
  await db.query(`ALTER TABLE public.items RENAME COLUMN qty TO quantity`);
  await db.query(`UPDATE public.items SET quantity = 11 WHERE id = 6`);
  await db.query('COMMIT');
  verifyPasses(102);
  expect(
    await clickhouse(`SELECT id, tiny, quantity FROM ${chTable} FINAL WHERE id IN (6, 7, 50) ORDER BY id`),
  ).toEqual([
    { id: 6, tiny: 6, quantity: 11 },
    { id: 7, tiny: 7, quantity: 10 },
    { id: 50, tiny: 50, quantity: 7 },
  ]);
  const renamed = await columnTypes();
  expect(renamed).not.toHaveProperty('small');
  expect(renamed).not.toHaveProperty('qty');
  expect(
    await clickhouse(`SELECT toString(count()) AS n FROM ${chTable}_history WHERE id = 6 AND tiny = 6`),
  ).toEqual([{ n: '3' }]);

  // One topic, one table, and every value schema version compatible (no `.v2`).
  const tablesAfter = await clickhouse<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = 'evo'`,
  );
  expect(tablesAfter).toEqual(tablesBefore);
  const registry = new RegistryClient({ url: ep.registry.url });
  expect((await registry.versions(`${topic}-value`)).length).toBeGreaterThanOrEqual(4);

  // An incompatible change under `stop` (the default): the capture stops naming the table, the
  // column, the change and the fix; no `.v2` topic, no second table.
  await db.query(`ALTER TABLE public.items ALTER COLUMN label TYPE int USING length(label)`);
  await db.query(`UPDATE public.items SET quantity = 9 WHERE id = 5`);
  const log = join(stateDir, 'logs', 'capture-postgres.log');
  const stopLine =
    /table public\.items, column label: an incompatible schema change\. [^\n]*\[null, string\] is gone in \[null, int\][^\n]*revert the change at the source[^\n]*schemaEvolution: recreate/;
  for (let i = 0; i < 120 && !stopLine.test(readFileSync(log, 'utf8')); i++) await sleep(500);
  expect(readFileSync(log, 'utf8')).toMatch(stopLine);
  const kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: ep.kafka.brokers, clientId: id }),
    createJsonLogger({ level: 'error' }),
  );
  const admin = kafka.admin();
  await admin.connect();
  expect((await admin.listTopics()).filter((t) => t.startsWith(`${topic}.v`))).toEqual([]);
  await admin.disconnect();

  // Switched to `recreate`: same subject, the table read again, the old one kept aside.
  expect(cdc('down').status).toBe(0);
  writeConfig('recreate');
  const up2 = cdc('up');
  expect(up2.status, up2.out).toBe(0);
  verifyPasses(102);
  const names = (
    await clickhouse<{ name: string }>(`SELECT name FROM system.tables WHERE database = 'evo' ORDER BY name`)
  ).map((r) => r.name);
  const base = chTable.split('.')[1] as string;
  const aside = names.find((n) => new RegExp(`^${base}__before_\\d+$`).test(n));
  expect(aside, names.join(', ')).toBeDefined();
  expect(names).toContain(`${aside}_history`);
  expect((await columnTypes()).label).toBe('Nullable(Int32)');
  expect(await clickhouse(`SELECT toString(count()) AS n FROM evo.${aside} FINAL`)).toEqual([{ n: '102' }]);
  expect(await clickhouse(`SELECT label FROM ${chTable} FINAL WHERE id = 2`)).toEqual([{ label: 200 }]);
  const down = cdc('down');
  expect(down.status, down.out).toBe(0);
});

it('captures a partitioned table through its root: one topic, one table equal to the parent, partitions attached and detached mid-run; a renamed table is read again under its new name', {
  timeout: 240_000,
}, async () => {
  const up = cdc('up');
  expect(up.status, up.out).toBe(0);
  // A table with rows attached as a partition, one partition detached, changes in each.
  await db.query(`CREATE TABLE public.events_west (LIKE public.events INCLUDING ALL)`);
  await db.query(`INSERT INTO public.events_west SELECT g, 'west', g FROM generate_series(1001, 1050) g`);
  await db.query(`ALTER TABLE public.events ATTACH PARTITION public.events_west FOR VALUES IN ('west')`);
  await db.query(`ALTER TABLE public.events DETACH PARTITION public.events_south`);
  await db.query(`UPDATE public.events SET v = -v WHERE id <= 30`);
  await db.query(`INSERT INTO public.events VALUES (2001, 'west', 1), (2002, 'north', 2)`);
  const [{ n }] = (await db.query<{ n: string }>('SELECT count(*)::text AS n FROM public.events')).rows as [
    { n: string },
  ];
  expect(n).toBe('252'); // 300 - 100 (south) + 50 (west) + 2
  const v = cdc('verify', '--timeout', '60');
  expect(v.out, v.out.slice(-4000)).toMatch(/verify: OK — 2 table\(s\) match/);
  expect(v.out).toMatch(/ok +public\.events +252 \/ 252 rows/);
  expect(v.status).toBe(0);
  // One ClickHouse table for the partitioned table, none per partition, one topic.
  const tables = (
    await clickhouse<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = 'evo' AND name LIKE '%events%'`,
    )
  ).map((r) => r.name);
  const events = `${id}_${id}_public_events`;
  expect(tables.sort()).toEqual([events, `${events}_current`, `${events}_history`, `${events}_history_mv`]);
  const kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: ep.kafka.brokers, clientId: id }),
    createJsonLogger({ level: 'error' }),
  );
  const admin = kafka.admin();
  await admin.connect();
  expect((await admin.listTopics()).filter((t) => t.includes('events')).sort()).toEqual([
    `${id}.${id}.public.events`,
  ]);
  await admin.disconnect();

  // RENAME TABLE: the new name is a new topic and a new table, filled with every row.
  await db.query(`ALTER TABLE public.items RENAME TO goods`);
  await db.query(`UPDATE public.goods SET quantity = 12 WHERE id = 1`);
  const renamed = cdc('verify', '--timeout', '60');
  expect(renamed.out, renamed.out.slice(-4000)).toMatch(/verify: OK — 2 table\(s\) match/);
  expect(renamed.out).toMatch(/ok +public\.goods +102 \/ 102 rows/);
  expect(cdc('down').status).toBe(0);
});

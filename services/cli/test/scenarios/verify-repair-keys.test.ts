/**
 * verify-repair-keys: the same as verify-repair for tables whose key is not one integer column:
 * `accounts` keyed by a uuid, `stock` by (region text, sku int) with the text column sorted by an
 * ICU collation (not byte order). ClickHouse rows damaged by hand (a changed value, a missing row,
 * an extra row) in each are named exactly by `cdc verify`, which compares ranges of the key's
 * encoded byte order checksummed inside both databases; `cdc verify --repair` has the capture
 * re-read those keys one by one (a resync request in the WAL), the fix reaches ClickHouse through
 * Kafka and the sink, only the repaired keys are compared again, and a full verify passes after.
 */
import { createHash } from 'node:crypto';
import type { VerifyReport } from '@cdc/operate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hostile, openHostile } from './hostile/harness.ts';

const ROWS = 8_000;
const REGIONS = ['Zürich', 'amsterdam', 'Berlin', 'berlin', 'a-b', 'ab', 'Ab', 'bern'];
const PER_REGION = ROWS / REGIONS.length;
const uuid = (i: number) => {
  const h = createHash('md5').update(String(i)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const SEP = '\u001f';
let h: Hostile;

const verify = (timeoutS: number, ...args: string[]) => {
  const t0 = Date.now();
  const r = h.cdc('verify', '--timeout', String(timeoutS), '--json', '--source', h.id, ...args);
  const json = r.out.slice(r.out.indexOf('{'), r.out.lastIndexOf('}') + 1);
  if (!json.startsWith('{')) throw new Error(`cdc verify printed no report (exit ${r.status}):\n${r.out}`);
  return { status: r.status, report: JSON.parse(json) as VerifyReport, out: r.out, ms: Date.now() - t0 };
};
const table = (r: VerifyReport, name: string) => r.tables.find((t) => t.table === `public.${name}`);

beforeAll(async () => {
  h = await openHostile('repairkeys');
  await h.sql('CREATE TABLE accounts (id uuid PRIMARY KEY, owner text, balance bigint NOT NULL)');
  await h.sql(
    `INSERT INTO accounts SELECT md5(i::text)::uuid, 'owner ' || i, i * 10 FROM generate_series(1, ${ROWS}) i`,
  );
  await h.sql(
    'CREATE TABLE stock (region text COLLATE "en-US-x-icu", sku int, qty int NOT NULL, note text, PRIMARY KEY (region, sku))',
  );
  await h.sql(
    `INSERT INTO stock SELECT r, s, s * 2, CASE WHEN s % 5 = 0 THEN NULL ELSE r || ' #' || s END
       FROM unnest($1::text[]) r, generate_series(1, ${PER_REGION}) s`,
    [REGIONS],
  );
  h.up();
  for (const t of ['accounts', 'stock'])
    await h.waitRows<{ n: string }>(
      `SELECT toString(count()) AS n FROM ${h.database}.${h.pgTable(t)}_current`,
      (r) => r[0]?.n === String(ROWS),
      240_000,
    );
}, 300_000);

afterAll(async () => {
  await h?.close();
});

describe('verify-repair-keys', () => {
  it('a faithful replica verifies, by ranges of the uuid and of the composite key', () => {
    const r = verify(60);
    expect(r.status, r.out).toBe(0);
    for (const name of ['accounts', 'stock'])
      expect(table(r.report, name)).toMatchObject({
        match: true,
        method: 'ranges',
        sourceRows: ROWS,
        clickhouseRows: ROWS,
      });
    console.log(
      `verify: ${r.ms} ms; accounts ${table(r.report, 'accounts')?.rowsPerSecond} rows/s, stock ${table(r.report, 'stock')?.rowsPerSecond} rows/s in the comparison`,
    );
  });

  it('names exactly the changed, missing and extra keys after ClickHouse was damaged by hand', async () => {
    // The sink owns the embedded directory: stop the pipeline, damage the tables, start again.
    h.down();
    const a = `${h.database}.${h.pgTable('accounts')}`;
    const s = `${h.database}.${h.pgTable('stock')}`;
    h.embeddedSql([
      `ALTER TABLE ${a} UPDATE owner = 'damaged' WHERE id = '${uuid(4242)}' SETTINGS mutations_sync = 2`,
      `ALTER TABLE ${a} DELETE WHERE id = '${uuid(777)}' SETTINGS mutations_sync = 2`,
      `INSERT INTO ${a} (id, owner, balance, _version) VALUES ('${uuid(ROWS + 5)}', 'ghost', 1, 1)`,
      `ALTER TABLE ${s} UPDATE qty = -1 WHERE region = 'berlin' AND sku = 77 SETTINGS mutations_sync = 2`,
      `ALTER TABLE ${s} DELETE WHERE region = 'Ab' AND sku = 3 SETTINGS mutations_sync = 2`,
      `INSERT INTO ${s} (region, sku, qty, note, _version) VALUES ('berlin ', 1, 1, 'ghost', 1)`,
    ]);
    h.up();
    // A damaged replica stays damaged: a short timeout (verify compares again until it runs out).
    const r = verify(8);
    expect(r.status, r.out).toBe(1);
    const accounts = table(r.report, 'accounts');
    expect(accounts?.differing).toBe(3);
    expect(accounts?.diffs?.map((d) => d.key).sort()).toEqual([uuid(777), uuid(4242), uuid(ROWS + 5)].sort());
    // Every diff in the message (short): a failure here once showed only the assertion's tail.
    expect(
      accounts?.diffs?.find((d) => d.key === uuid(4242)),
      JSON.stringify(accounts?.diffs),
    ).toEqual({
      key: uuid(4242),
      source: { owner: 'owner 4242' },
      clickhouse: { owner: 'damaged' },
    });
    expect(accounts?.repair?.onlyInClickHouse).toEqual([uuid(ROWS + 5)]);
    const stock = table(r.report, 'stock');
    expect(stock?.differing).toBe(3);
    expect(stock?.repair?.values?.map((v) => v.join('/')).sort()).toEqual(['Ab/3', 'berlin /1', 'berlin/77']);
    expect(
      stock?.diffs?.find((d) => d.key === `berlin${SEP}77`),
      JSON.stringify(stock?.diffs),
    ).toEqual({
      key: `berlin${SEP}77`,
      source: { qty: '154' },
      clickhouse: { qty: '-1' },
    });
    expect(stock?.repair?.onlyInClickHouse).toEqual([`berlin ${SEP}1`]);
    // The other tables were not touched.
    expect(r.report.tables.filter((x) => !x.match).map((x) => x.table)).toEqual([
      'public.accounts',
      'public.stock',
    ]);
  }, 240_000);

  it('--repair re-reads those keys through the capture and Kafka and compares only them again; verify passes after', async () => {
    const r = verify(120, '--repair');
    expect(
      r.status,
      `${r.out}\ncapture log:\n${h.log('capture-postgres').split('\n').slice(-30).join('\n')}`,
    ).toBe(0);
    expect(r.report.repairs).toEqual([
      { source: h.id, table: 'public.accounts', ranges: 3, deletes: 1 },
      { source: h.id, table: 'public.stock', ranges: 3, deletes: 1 },
    ]);
    for (const name of ['accounts', 'stock'])
      expect(table(r.report, name)).toMatchObject({
        match: true,
        reverified: 3,
        sourceRows: ROWS,
        clickhouseRows: ROWS,
      });
    expect(h.log('capture-postgres')).toMatch(/resync finished/);
    await h.waitRows<{ owner: string }>(
      `SELECT owner FROM ${h.database}.${h.pgTable('accounts')}_current WHERE id = '${uuid(4242)}'`,
      (rows) => rows.length === 1 && rows[0]?.owner === 'owner 4242',
      30_000,
    );
    const again = verify(60);
    expect(again.status, again.out).toBe(0);
    for (const name of ['accounts', 'stock'])
      expect(table(again.report, name)).toMatchObject({
        match: true,
        sourceRows: ROWS,
        clickhouseRows: ROWS,
      });
  }, 240_000);
});

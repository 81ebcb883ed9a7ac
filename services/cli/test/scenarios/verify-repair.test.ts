/**
 * verify-repair: ClickHouse rows damaged by hand in a large replicated table (a changed value, a
 * missing row, an extra row) are named exactly by `cdc verify`, which compares key ranges
 * checksummed inside both databases; `cdc verify --repair` has the capture re-read those keys
 * (a resync request in the WAL), the fix reaches ClickHouse through Kafka and the sink like any
 * change, and verify passes after.
 *
 * Beside them, `cdc verify --continuous` reports the damaged table on its `/metrics`.
 *
 * The table has 100k rows (CI); CDC_VERIFY_REPAIR_ROWS=1000000 runs the same with 1 M rows.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VerifyReport } from '@cdc/operate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hostile, openHostile, ROOT } from './hostile/harness.ts';

const ROWS = Number(process.env.CDC_VERIFY_REPAIR_ROWS ?? 100_000);
const CHANGED = 4_242;
const MISSING = 777;
const EXTRA = ROWS + 5;
let h: Hostile;
let table: string;

const verify = (timeoutS: number, ...args: string[]) => {
  const t0 = Date.now();
  const r = h.cdc('verify', '--timeout', String(timeoutS), '--json', '--source', h.id, ...args);
  const json = r.out.slice(r.out.indexOf('{'), r.out.lastIndexOf('}') + 1);
  if (!json.startsWith('{')) throw new Error(`cdc verify printed no report (exit ${r.status}):\n${r.out}`);
  return { status: r.status, report: JSON.parse(json) as VerifyReport, out: r.out, ms: Date.now() - t0 };
};
const big = (r: VerifyReport) => r.tables.find((t) => t.table === 'public.big');

beforeAll(async () => {
  h = await openHostile('repair');
  table = h.pgTable('big');
  await h.sql('CREATE TABLE big (id int PRIMARY KEY, name text, qty bigint NOT NULL, flag boolean)');
  await h.sql(
    `INSERT INTO big SELECT i, 'item ' || i, i * 3, CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END FROM generate_series(1, ${ROWS}) i`,
  );
  h.up();
  await h.waitRows<{ n: string }>(
    `SELECT toString(count()) AS n FROM ${h.database}.${table}_current`,
    (r) => r[0]?.n === String(ROWS),
    240_000,
  );
}, 300_000);

afterAll(async () => {
  await h?.close();
});

describe('verify-repair', () => {
  it('a faithful replica verifies, by ranges checksummed in both databases', () => {
    const r = verify(60);
    expect(r.status, r.out).toBe(0);
    expect(big(r.report)).toMatchObject({
      match: true,
      method: 'ranges',
      sourceRows: ROWS,
      clickhouseRows: ROWS,
    });
    console.log(
      `verify of ${ROWS} rows: ${r.ms} ms (${big(r.report)?.rowsPerSecond} rows/s in the comparison)`,
    );
  });

  it('names exactly the changed, missing and extra keys after ClickHouse was damaged by hand', async () => {
    // The sink owns the embedded directory: stop the pipeline, damage the table, start again.
    h.down();
    const damaged = `${h.database}.${table}`;
    h.embeddedSql([
      `ALTER TABLE ${damaged} UPDATE name = 'damaged' WHERE id = ${CHANGED} SETTINGS mutations_sync = 2`,
      `ALTER TABLE ${damaged} DELETE WHERE id = ${MISSING} SETTINGS mutations_sync = 2`,
      `INSERT INTO ${damaged} (id, name, qty, flag, _version) VALUES (${EXTRA}, 'ghost', 1, true, 1)`,
    ]);
    h.up();
    // A damaged replica stays damaged: a short timeout (verify compares again until it runs out).
    const r = verify(8);
    expect(r.status, r.out).toBe(1);
    const t = big(r.report);
    expect(t?.differing).toBe(3);
    expect(t?.diffs).toEqual([
      { key: String(MISSING), source: expect.objectContaining({ id: String(MISSING) }), clickhouse: null },
      { key: String(CHANGED), source: { name: `item ${CHANGED}` }, clickhouse: { name: 'damaged' } },
      { key: String(EXTRA), source: null, clickhouse: expect.objectContaining({ name: 'ghost' }) },
    ]);
    expect(t?.repair?.onlyInClickHouse).toEqual([String(EXTRA)]);
    // The other tables were not touched.
    expect(r.report.tables.filter((x) => !x.match).map((x) => x.table)).toEqual(['public.big']);
  }, 240_000);

  it('continuous mode publishes the outcome per table as cdc_verify_* metrics', async () => {
    const child = spawn(
      process.execPath,
      [
        'services/cli/dist/main.js',
        'verify',
        '--continuous',
        '--metrics-port',
        '0',
        '--interval',
        '1',
        '--timeout',
        '5',
        '--rows-per-second',
        '200000',
        '--source',
        h.id,
        '--config',
        h.config,
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d) => {
      err += String(d);
    });
    try {
      const t0 = Date.now();
      // Two runs: a difference counts once it is seen in two runs in a row.
      while ((err.match(/verify: run \d+: (OK|CHECKING|FAILED)/g) ?? []).length < 2) {
        if (Date.now() - t0 > 90_000 || child.exitCode !== null) throw new Error(`no run finished:\n${err}`);
        await sleep(200);
      }
      const url = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(err)?.[1] as string;
      const text = await (await fetch(url)).text();
      const value = (name: string, table: string) =>
        new RegExp(`^${name}\\{[^}]*table="${table}"[^}]*\\} (\\S+)`, 'm').exec(text)?.[1];
      // The second run saw the same three keys differ: the table is failed by name in its line.
      expect(err).toMatch(
        /verify: run 2: FAILED — \d+ of \d+ table\(s\) match; differing in two runs in a row: public\.big \(3 row\(s\)\)/,
      );
      expect(value('cdc_verify_match', 'public.big'), text).toBe('0');
      expect(value('cdc_verify_mismatched_rows', 'public.big')).toBe('3');
      expect(value('cdc_verify_match', 'public.ordinary')).toBe('1');
      expect(Number(value('cdc_verify_rows_checked_total', 'public.big'))).toBeGreaterThanOrEqual(ROWS);
      expect(Number(value('cdc_verify_last_run_timestamp_seconds', 'public.big'))).toBeGreaterThan(
        t0 / 1000 - 1,
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    expect(child.exitCode, err).toBe(0);
  }, 120_000);

  it('--repair re-reads those keys through the capture and Kafka; verify passes after', async () => {
    const r = verify(120, '--repair');
    expect(
      r.status,
      `${r.out}\ncapture log:\n${h.log('capture-postgres').split('\n').slice(-30).join('\n')}`,
    ).toBe(0);
    expect(r.report.repairs).toEqual([{ source: h.id, table: 'public.big', ranges: 3, deletes: 1 }]);
    // Only the repaired keys were compared again (the rest matched before the repair).
    expect(big(r.report)).toMatchObject({
      match: true,
      reverified: 3,
      sourceRows: ROWS,
      clickhouseRows: ROWS,
    });
    // Through the log: the sink wrote the re-read row and the delete as changes (its history has
    // them, after the snapshot's row and the row inserted by hand).
    const history = await h.query<{ id: number; n: string }>(
      `SELECT id, toString(count()) AS n FROM ${h.database}.${table}_history WHERE id IN (${CHANGED}, ${EXTRA}) GROUP BY id ORDER BY id`,
    );
    expect(history).toEqual([
      { id: CHANGED, n: '2' },
      { id: EXTRA, n: '2' },
    ]);
    expect(h.log('capture-postgres')).toMatch(/resync finished/);
    const again = verify(60);
    expect(again.status, again.out).toBe(0);
  }, 240_000);
});

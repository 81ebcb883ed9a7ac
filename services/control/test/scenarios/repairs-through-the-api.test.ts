/**
 * repairs-through-the-api: against the whole pipeline under `cdc up` (capture, sink into the
 * embedded ClickHouse, the control service), a table whose ClickHouse copy was damaged by hand
 * (a changed row, a missing row):
 *
 * - fails `verify` run through the API; a resync asked through the API (a signal → the capture's
 *   incremental snapshot → Kafka → the sink) repairs it, and `verify` through the API passes.
 *   Every action shows in the audit log, loaded by the sink into ClickHouse;
 * - damaged again, is named by the continuous verifier started through the API (the same keys in
 *   two runs in a row), repaired by `verify` with `repair: true` through the API (only the
 *   differing keys re-read, then compared again), after which the continuous verifier sees it
 *   match; stopping it through the API stops it.
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deleteTopicsIfExist } from '@cdc/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClient, waitFor } from '../../../capture-postgres/test/scenarios/harness.ts';
import { type Hostile, openHostile } from '../../../cli/test/scenarios/hostile/harness.ts';
import { tokenHash } from '../../src/tokens.ts';

const ROWS = 2_000;
const CHANGED = 42;
const MISSING = 77;
const OPERATOR = `op-${process.pid}-${Date.now().toString(36)}`;
let h: Hostile;
let table: string;

const urlFile = () => join(dirname(h.config), 'state', 'run', 'control.url');
async function controlUrl(): Promise<string> {
  let url = '';
  await waitFor('the control service listens', 60_000, async () => {
    try {
      url = (await import('node:fs')).readFileSync(urlFile(), 'utf8').trim();
    } catch {
      url = '';
    }
    return url !== '';
  });
  return url;
}
/** Stops the pipeline, damages the ClickHouse copy by hand (a changed row, a missing row), starts it again. */
async function damage(changed: number, missing: number) {
  // The sink owns the embedded directory: stop the pipeline, damage the table (in a process of
  // its own, gone before the sink opens the directory again), start again.
  h.down();
  const t = `${h.database}.${table}`;
  h.embeddedSql([
    `ALTER TABLE ${t} UPDATE name = 'damaged' WHERE id = ${changed} SETTINGS mutations_sync = 2`,
    `ALTER TABLE ${t} DELETE WHERE id = ${missing} SETTINGS mutations_sync = 2`,
  ]);
  rmSync(urlFile(), { force: true });
  h.up();
}
async function call(method: string, path: string, body?: unknown) {
  const r = await fetch(new URL(path, await controlUrl()), {
    method,
    headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}
const verifyThroughApi = async (timeoutS: number) => {
  const r = await call('POST', '/api/verify', { sources: [h.id], timeoutS });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.report as { ok: boolean; tables: { table: string; match?: boolean; differing?: number }[] };
};

beforeAll(async () => {
  const id = `h_ctl18_${process.pid}`;
  h = await openHostile('ctl18', {
    pipelineExtra: `control:
  port: 0
  signalTopic: __${id}.signals
  auditTopic: ${id}.audit
  tokens:
    - { name: olga, role: operator, sha256: "${tokenHash(OPERATOR)}" }`,
  });
  table = h.pgTable('items');
  await h.sql('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)');
  await h.sql(`INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, ${ROWS}) i`);
  h.up();
  await h.waitRows<{ n: string }>(
    `SELECT toString(count()) AS n FROM ${h.database}.${table}_current`,
    (r) => r[0]?.n === String(ROWS),
    180_000,
  );
}, 300_000);

afterAll(async () => {
  const id = h?.id;
  await h?.close();
  if (!id) return;
  const admin = kafkaClient().admin();
  await admin.connect();
  await deleteTopicsIfExist(admin, [`__${id}.signals`, `__${id}.paused`, `__${id}_docs.paused`]).finally(() =>
    admin.disconnect(),
  );
}, 120_000);

describe('resync through the control API', () => {
  it('repairs a ClickHouse copy damaged by hand: verify fails, resync, verify passes', async () => {
    expect((await verifyThroughApi(30)).ok).toBe(true);

    await damage(CHANGED, MISSING);

    const damaged = await verifyThroughApi(5);
    expect(damaged.ok).toBe(false);
    expect(damaged.tables.find((t) => t.table === 'public.items')?.differing).toBe(2);

    const resync = await call('POST', `/api/tables/${h.id}/public.items/resync`, {});
    expect(resync.status, JSON.stringify(resync.body)).toBe(200);
    const repaired = await verifyThroughApi(120);
    expect(repaired.ok, JSON.stringify(repaired.tables)).toBe(true);

    // The audit log reached ClickHouse through the sink: verify ×3 and the resync, by olga.
    const rows = await h.waitRows<{ action: string; outcome: string; actor: string }>(
      `SELECT action, outcome, actor FROM ${h.database}.${h.id}_audit_current ORDER BY at`,
      (r) => r.length >= 4,
      90_000,
    );
    expect(rows.map((r) => `${r.actor} ${r.action} ${r.outcome}`)).toEqual([
      'olga verify ok',
      'olga verify ok',
      'olga resync ok',
      'olga verify ok',
    ]);
  }, 400_000);
});

interface Continuous {
  running: boolean;
  runs: number;
  lastLine: string | null;
  tables: { table: string; match: boolean; lastingDifferences: number }[];
}

describe('verify with repair and continuous verification through the control API', () => {
  it('the continuous verifier names a damaged table, repair: true fixes it, the verifier sees it match', async () => {
    await damage(CHANGED + 1, MISSING + 1);
    const continuous = async () => {
      const r = await call('GET', '/api/verify/continuous');
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body.continuous as Continuous | null;
    };
    const items = (c: Continuous | null) => c?.tables.find((t) => t.table === 'public.items');
    expect(await continuous()).toBeNull();

    const started = await call('POST', '/api/verify/continuous', {
      sources: [h.id],
      rowsPerSecond: 100_000,
      intervalS: 1,
      timeoutS: 20,
    });
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    expect((started.body.continuous as Continuous).running).toBe(true);
    // A second one is refused while it runs, with the way out.
    const twice = await call('POST', '/api/verify/continuous', {});
    expect(twice.status).toBe(409);
    expect(String(twice.body.error)).toMatch(/stop it first/);

    // The same two keys in two runs in a row: the table is named as differing.
    let seen: Continuous | null = null;
    await waitFor('the continuous verifier names public.items', 120_000, async () => {
      seen = await continuous();
      return items(seen)?.lastingDifferences === 2;
    });
    expect(items(seen)).toMatchObject({ match: false, lastingDifferences: 2 });
    expect((seen as Continuous | null)?.lastLine).toMatch(/FAILED — .*public\.items \(2 row\(s\)\)/);

    const r = await call('POST', '/api/verify', { sources: [h.id], timeoutS: 120, repair: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const report = r.body.report as {
      ok: boolean;
      repairs: unknown[];
      tables: { table: string; match: boolean; reverified?: number }[];
    };
    expect(report.ok, JSON.stringify(report)).toBe(true);
    expect(report.repairs).toEqual([{ source: h.id, table: 'public.items', ranges: 2, deletes: 0 }]);
    expect(report.tables.find((t) => t.table === 'public.items')).toMatchObject({
      match: true,
      reverified: 2,
    });

    await waitFor('the continuous verifier sees public.items match', 120_000, async () => {
      const c = await continuous();
      return items(c)?.match === true && /OK — /.test(c?.lastLine ?? '');
    });

    const stopped = await call('POST', '/api/verify/continuous/stop', {});
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    await waitFor(
      'the continuous verifier stops',
      60_000,
      async () => (await continuous())?.running === false,
    );
    expect((await call('POST', '/api/verify/continuous/stop', {})).status).toBe(409);
  }, 400_000);
});

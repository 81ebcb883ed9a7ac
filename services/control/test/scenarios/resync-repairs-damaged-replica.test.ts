/**
 * resync-repairs-damaged-replica: against the whole pipeline under `cdc up` (capture, sink into
 * the embedded ClickHouse, the control service), a table whose ClickHouse copy was damaged by
 * hand (a changed row, a missing row) fails `verify` run through the API; a resync asked through
 * the API (a signal → the capture's incremental snapshot → Kafka → the sink) repairs it, and
 * `verify` through the API passes. Every action shows in the audit log, loaded by the sink into
 * ClickHouse.
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deleteTopicsIfExist } from '@cdc/kafka';
import { loadPipeline } from '@cdc/pipeline';
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

    // The sink owns the embedded directory: stop the pipeline, damage the table, start again.
    h.down();
    const { Session } = await import('chdb');
    const path = (loadPipeline(h.config, process.env).clickhouse as { embedded: { path: string } }).embedded
      .path;
    const session = new Session(path);
    try {
      const t = `${h.database}.${table}`;
      session.query(
        `ALTER TABLE ${t} UPDATE name = 'damaged' WHERE id = ${CHANGED} SETTINGS mutations_sync = 2`,
      );
      session.query(`ALTER TABLE ${t} DELETE WHERE id = ${MISSING} SETTINGS mutations_sync = 2`);
    } finally {
      session.close();
    }
    rmSync(urlFile(), { force: true });
    h.up();

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

/**
 * verify-mongo-pages: `cdc verify` compares a MongoDB collection a page of documents at a time
 * against the ClickHouse rows of their keys (memory bounded whatever the collection's size), and
 * finds rows only ClickHouse holds by paging its keys. A faithful replica of 12,000 documents
 * (three pages) verifies; after ClickHouse was damaged by hand (a changed value, a missing row,
 * an extra row) verify names exactly those keys. (Values are shown in their canonical form: a
 * string as JSON text.)
 */

import type { VerifyReport } from '@cdc/operate';
import { loadPipeline } from '@cdc/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hostile, openHostile } from './hostile/harness.ts';

const DOCS = 12_000;
const CHANGED = 4_242;
const MISSING = 7_777;
const EXTRA = DOCS + 5;
let h: Hostile;
let table: string;

const key = (n: number) => `{"$numberInt":"${n}"}`;
const verify = (timeoutS: number) => {
  const r = h.cdc('verify', '--timeout', String(timeoutS), '--json', '--source', `${h.id}_docs`);
  const json = r.out.slice(r.out.indexOf('{'), r.out.lastIndexOf('}') + 1);
  if (!json.startsWith('{')) throw new Error(`cdc verify printed no report (exit ${r.status}):\n${r.out}`);
  return { status: r.status, report: JSON.parse(json) as VerifyReport, out: r.out };
};
const items = (r: VerifyReport) => r.tables.find((t) => t.table === `${h.id}.items`);

beforeAll(async () => {
  h = await openHostile('vmongo');
  table = `${h.id}_docs_${h.id}_items`;
  const docs = Array.from({ length: DOCS }, (_, i) => ({
    _id: i + 1,
    name: `item ${i + 1}`,
    qty: (i + 1) * 3,
  }));
  for (let i = 0; i < docs.length; i += 2_000)
    await h.mongo
      .collection<{ _id: number; name: string; qty: number }>('items')
      .insertMany(docs.slice(i, i + 2_000));
  h.up();
  await h.waitRows<{ n: string }>(
    `SELECT toString(count()) AS n FROM ${h.database}.${table}_current`,
    (r) => r[0]?.n === String(DOCS),
    240_000,
  );
}, 300_000);

afterAll(async () => {
  await h?.close();
});

describe('verify-mongo-pages', () => {
  it('a faithful replica verifies, page by page', () => {
    const r = verify(60);
    expect(r.status, r.out).toBe(0);
    expect(items(r.report)).toMatchObject({
      match: true,
      method: 'pages',
      sourceRows: DOCS,
      clickhouseRows: DOCS,
    });
  });

  it('names exactly the changed, missing and extra keys after ClickHouse was damaged by hand', async () => {
    // The sink owns the embedded directory: stop the pipeline, damage the table, start again.
    h.down();
    const { Session } = await import('chdb');
    const pipeline = loadPipeline(h.config, process.env);
    const session = new Session((pipeline.clickhouse as { embedded: { path: string } }).embedded.path);
    try {
      const t = `${h.database}.${table}`;
      session.query(
        `ALTER TABLE ${t} UPDATE name = 'damaged' WHERE _key_id = '${key(CHANGED)}' SETTINGS mutations_sync = 2`,
      );
      session.query(`ALTER TABLE ${t} DELETE WHERE _key_id = '${key(MISSING)}' SETTINGS mutations_sync = 2`);
      session.query(
        `INSERT INTO ${t} (_key_id, _id, name, qty, _version) VALUES ('${key(EXTRA)}', '${EXTRA}', 'ghost', 1, 1)`,
      );
    } finally {
      session.close();
    }
    h.up();
    const r = verify(8);
    expect(r.status, r.out).toBe(1);
    const t = items(r.report);
    expect(t?.differing, r.out).toBe(3);
    expect(t?.sourceRows).toBe(DOCS);
    expect(t?.clickhouseRows).toBe(DOCS);
    expect(new Map(t?.diffs?.map((d) => [d.key, d]))).toEqual(
      new Map([
        [
          key(CHANGED),
          { key: key(CHANGED), source: { name: `"item ${CHANGED}"` }, clickhouse: { name: '"damaged"' } },
        ],
        [
          key(MISSING),
          { key: key(MISSING), source: expect.objectContaining({ _id: `"${MISSING}"` }), clickhouse: null },
        ],
        [
          key(EXTRA),
          { key: key(EXTRA), source: null, clickhouse: expect.objectContaining({ name: '"ghost"' }) },
        ],
      ]),
    );
    // The other collection was not touched.
    expect(r.report.tables.filter((x) => !x.match).map((x) => x.table)).toEqual([`${h.id}.items`]);
  }, 240_000);
});

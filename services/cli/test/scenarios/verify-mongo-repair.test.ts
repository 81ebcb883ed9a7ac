/**
 * verify-mongo-repair: ClickHouse rows of a MongoDB collection damaged by hand (a changed value, a
 * missing row, an extra row) are repaired by `cdc verify --repair`: it names the differing `_id`s,
 * sends them to the capture as resync signals, the capture re-reads them (the `_id` it no longer
 * finds becomes a delete) and writes them into the collection's topic, the sink upserts them like
 * any change, and verify passes after. (On the stack's SecantusDB, like the other `cdc` scenarios;
 * the capture's resync itself is proven on both servers by capture-mongo's resync.test.ts.)
 */

import type { VerifyReport } from '@cdc/operate';
import { loadPipeline } from '@cdc/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hostile, openHostile } from './hostile/harness.ts';

const DOCS = 6_000;
const CHANGED = 4_242;
const MISSING = 777;
const EXTRA = DOCS + 5;
let h: Hostile;
let table: string;

const key = (n: number) => `{"$numberInt":"${n}"}`;
const verify = (timeoutS: number, ...args: string[]) => {
  const r = h.cdc('verify', '--timeout', String(timeoutS), '--json', '--source', `${h.id}_docs`, ...args);
  const json = r.out.slice(r.out.indexOf('{'), r.out.lastIndexOf('}') + 1);
  if (!json.startsWith('{')) throw new Error(`cdc verify printed no report (exit ${r.status}):\n${r.out}`);
  return { status: r.status, report: JSON.parse(json) as VerifyReport, out: r.out };
};
const items = (r: VerifyReport) => r.tables.find((t) => t.table === `${h.id}.items`);

beforeAll(async () => {
  // A signal topic of the test's own (its name starts with the id: `close()` deletes it; the
  // sink's topic pattern wants `<id>.` or `<id>_docs.`, so it does not read it).
  h = await openHostile('vmrepair', {
    pipelineExtra: `control:\n  signalTopic: h_vmrepair_${process.pid}-signals`,
  });
  table = `${h.id}_docs_${h.id}_items`;
  const docs = Array.from({ length: DOCS }, (_, i) => ({
    _id: i + 1,
    name: `item ${i + 1}`,
    qty: (i + 1) * 3,
  }));
  await h.mongo.collection<{ _id: number; name: string; qty: number }>('items').insertMany(docs);
  h.up();
  await h.waitRows<{ n: string }>(
    `SELECT toString(count()) AS n FROM ${h.database}.${table}_current`,
    (r) => r[0]?.n === String(DOCS),
    120_000,
  );
}, 180_000);

afterAll(async () => {
  await h?.close();
});

describe('verify-mongo-repair', () => {
  it('--repair re-reads the changed, missing and extra _ids through the capture and Kafka; verify passes after', async () => {
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
    const r = verify(120, '--repair');
    expect(
      r.status,
      `${r.out}\ncapture log:\n${h.log('capture-mongo').split('\n').slice(-30).join('\n')}`,
    ).toBe(0);
    expect(r.report.repairs).toEqual([
      { source: `${h.id}_docs`, table: `${h.id}.items`, ranges: 3, deletes: 1, kind: 'keys' },
    ]);
    // Compared again on the three repaired documents only, not the whole collection.
    expect(items(r.report)).toMatchObject({
      match: true,
      sourceRows: DOCS,
      clickhouseRows: DOCS,
      reverified: 3,
    });
    expect(r.out).toMatch(/re-read 3 document\(s\) \(1 key\(s\) only in ClickHouse\)/);
    // Through the log: the sink wrote the re-read rows and the delete as changes (the history
    // holds, for each damaged _id, the snapshot's read or the row inserted by hand, then the resync's).
    // waitRows retries: the harness's reader may hold a connection to the sink from before its restart.
    const history = await h.waitRows<{ k: string; op: string }>(
      `SELECT _key_id AS k, _op AS op FROM ${h.database}.${table}_history WHERE _key_id IN ('${key(CHANGED)}', '${key(MISSING)}', '${key(EXTRA)}') ORDER BY _key_id, _version`,
      (rows) => rows.length >= 6,
      30_000,
    );
    const ops = new Map<string, string[]>();
    for (const x of history) ops.set(x.k, [...(ops.get(x.k) ?? []), x.op]);
    expect(new Map([...ops].map(([k, o]) => [k, o.join(',')]))).toEqual(
      new Map([
        [key(CHANGED), 'r,r'],
        [key(MISSING), 'r,r'],
        [key(EXTRA), expect.stringMatching(/,d$/)],
      ]),
    );
    expect(h.log('capture-mongo')).toMatch(/collection resynced/);
    const again = verify(30);
    expect(again.status, again.out).toBe(0);
  }, 150_000);
});

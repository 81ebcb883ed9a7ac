/**
 * transforms-on-every-path: one transforms entry (a filter, an excluded column, a hashed one)
 * gives the same records whichever path read the row: the initial snapshot (a table included
 * from the start), the incremental snapshot (a table added to the include list later) and the
 * stream (rows moving in and out of the filter: a move out is a delete of the key). The
 * registered Avro schema has no excluded column; no record holds a plaintext value.
 */
import { createHmac } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Consumed,
  cleanup,
  connectPg,
  consume,
  endpoints,
  recordingLogger,
  runCapture,
  scenario,
  waitFor,
  waitStreaming,
} from './harness.ts';

const s = scenario('xform');
const first = `${s.name}_a`.toLowerCase();
const added = `${s.name}_b`.toLowerCase();
const SALT = 'transforms-scenario-salt';
const hash = (v: string) => createHmac('sha256', SALT).update(v).digest('hex');
const transforms = {
  maskSalt: SALT,
  tables: {
    '*': { filter: "status = 'in'", columns: { exclude: ['secret'], mask: { email: 'hash' } } },
  },
};

afterAll(async () => {
  await cleanup(s, [first, added], [s.topicOf(first), s.topicOf(added), `${s.prefix}.quarantine`]);
});

function expectShaped(records: Consumed[]): void {
  for (const r of records) {
    for (const image of [r.value.after, r.value.before]) {
      if (!image) continue;
      expect(Object.keys(image).sort()).toEqual(['email', 'id', 'status']);
      expect(image.email).toBe(hash(`user${image.id}@plain.test`));
    }
    expect(JSON.stringify(r.value, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toMatch(
      /plain\.test|top-secret/,
    );
  }
}

describe('transforms-on-every-path', () => {
  it('filters and projects identically on the snapshot, the incremental snapshot and the stream', async () => {
    const db = await connectPg();
    try {
      for (const t of [first, added]) {
        await db.query(
          `CREATE TABLE ${t} (id int PRIMARY KEY, status text NOT NULL, email text, secret text)`,
        );
        await db.query(
          `INSERT INTO ${t} SELECT g, CASE WHEN g % 2 = 1 THEN 'in' ELSE 'out' END, 'user' || g || '@plain.test', 'top-secret-' || g FROM generate_series(1, 6) g`,
        );
      }
      // The initial snapshot: only the first table is included.
      const one = runCapture(s.source({ include: [first], ...transforms }));
      await waitStreaming(s);
      const snap = await consume([s.topicOf(first)], { expected: 3, settleMs: 500 });
      await one.stop();
      expect(snap.map((r) => [r.value.op, r.value.after?.id]).sort()).toEqual([
        ['r', 1],
        ['r', 3],
        ['r', 5],
      ]);
      expectShaped(snap);

      // The second table added to the include list: an incremental snapshot, then the stream.
      const { logger, lines } = recordingLogger();
      const two = runCapture(
        s.source({ include: [first, added], snapshotOptions: { incrementalChunkRows: 2 }, ...transforms }),
        logger,
      );
      try {
        await waitFor('incremental snapshot finished', 60_000, () =>
          lines.some((l) => l.msg === 'incremental snapshot finished'),
        );
        await db.query(`UPDATE ${added} SET status = 'out' WHERE id = 1`); // moves out
        await db.query(`UPDATE ${added} SET status = 'in' WHERE id = 2`); // moves in
        await db.query(`UPDATE ${added} SET email = email WHERE id = 4`); // stays out
        await db.query(`INSERT INTO ${added} VALUES (7, 'in', 'user7@plain.test', 'top-secret-7')`);
        await db.query(`UPDATE ${first} SET status = 'out' WHERE id = 3`);
        const records = await consume([s.topicOf(first), s.topicOf(added)], {
          expected: 4 + 7,
          settleMs: 1000,
        });
        const of = (t: string) =>
          records
            .filter((r) => r.topic === s.topicOf(t))
            .map((r) => JSON.stringify([r.value.op, r.key?.id, r.value.source.snapshot]))
            .sort();
        const sorted = (rows: unknown[][]) => rows.map((x) => JSON.stringify(x)).sort();
        expect(of(added)).toEqual(
          sorted([
            ['r', 1, 'incremental'],
            ['r', 3, 'incremental'],
            ['r', 5, 'incremental'],
            ['d', 1, 'false'],
            ['u', 2, 'false'],
            ['d', 4, 'false'],
            ['c', 7, 'false'],
          ]),
        );
        expect(of(first)).toEqual(
          sorted([
            ['r', 1, 'true'],
            ['r', 3, 'true'],
            ['r', 5, 'true'],
            ['d', 3, 'false'],
          ]),
        );
        expectShaped(records);
      } finally {
        await two.stop();
      }
      // The registered value schema has no excluded column.
      const r = await fetch(`${endpoints.registry.url}/subjects/${s.topicOf(added)}-value/versions/latest`);
      expect(((await r.json()) as { schema: string }).schema).not.toContain('secret');
    } finally {
      await db.end();
    }
  });
});

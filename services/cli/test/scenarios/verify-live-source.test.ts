/**
 * verify-live-source: `cdc verify` while the source keeps changing. Each comparison reads the
 * source in one snapshot, waits for the pipeline to reach that snapshot's WAL position, and reads
 * ClickHouse as of it: a row the pipeline changed after the snapshot is compared in the state the
 * snapshot saw (the latest of its history below the snapshot's version). So a faithful replica
 * verifies on its first comparison under steady updates, inserts and deletes, for an integer
 * key and a uuid key alike, instead of differing by whatever changed in between until the
 * timeout.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VerifyReport } from '@cdc/operate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hostile, openHostile, ROOT } from './hostile/harness.ts';

const ROWS = 20_000;
let h: Hostile;

/** `cdc verify` in a child process, so that the writer goes on meanwhile. */
function verifyAsync(...args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['services/cli/dist/main.js', 'verify', ...args, '--config', h.config],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.stderr.on('data', (d) => {
      out += String(d);
    });
    child.on('exit', (status) => resolve({ status, out }));
  });
}

beforeAll(async () => {
  h = await openHostile('live');
  await h.sql('CREATE TABLE live_int (id int PRIMARY KEY, name text, qty bigint NOT NULL)');
  await h.sql(`INSERT INTO live_int SELECT i, 'item ' || i, i FROM generate_series(1, ${ROWS}) i`);
  await h.sql('CREATE TABLE live_uuid (u uuid PRIMARY KEY, n int NOT NULL, qty bigint NOT NULL)');
  await h.sql(`INSERT INTO live_uuid SELECT md5(i::text)::uuid, i, i FROM generate_series(1, ${ROWS}) i`);
  h.up();
  for (const t of ['live_int', 'live_uuid'])
    await h.waitRows<{ n: string }>(
      `SELECT toString(count()) AS n FROM ${h.database}.${h.pgTable(t)}_current`,
      (r) => r[0]?.n === String(ROWS),
      240_000,
    );
}, 300_000);

afterAll(async () => {
  await h?.close();
});

describe('verify-live-source', () => {
  it('a faithful replica under steady writes verifies on its first comparison', async () => {
    let stop = false;
    let transactions = 0;
    let next = ROWS + 1;
    // About 50 transactions/s, each updating, inserting and deleting rows of both tables.
    const writer = (async () => {
      while (!stop) {
        const id = 1 + Math.floor(Math.random() * ROWS);
        await h.sql(
          `BEGIN;
           UPDATE live_int SET qty = qty + 1, name = 'changed ' || qty WHERE id IN (${id}, ${(id % ROWS) + 1});
           INSERT INTO live_int VALUES (${next}, 'new', 0);
           DELETE FROM live_int WHERE id = ${next - 7};
           UPDATE live_uuid SET qty = qty + 1 WHERE n IN (${id}, ${(id * 7) % ROWS});
           INSERT INTO live_uuid VALUES (md5('new${next}')::uuid, ${next}, 0);
           COMMIT`,
        );
        next++;
        transactions++;
        await sleep(20);
      }
    })();
    try {
      await sleep(3_000); // the writes flow through the pipeline before verify starts
      const before = transactions;
      const r = await verifyAsync('--timeout', '90', '--json', '--source', h.id);
      const during = transactions - before;
      const json = r.out.slice(r.out.indexOf('{'), r.out.lastIndexOf('}') + 1);
      expect(json.startsWith('{'), r.out).toBe(true);
      const report = JSON.parse(json) as VerifyReport;
      expect(r.status, r.out).toBe(0);
      // The writer kept going while verify ran.
      expect(during).toBeGreaterThan(20);
      // The first comparison matched (a second may follow only if a transaction committed in the
      // instant between the snapshot and the reading of its position).
      expect(report.attempts, r.out).toBeLessThanOrEqual(2);
      for (const t of ['public.live_int', 'public.live_uuid'])
        expect(report.tables.find((x) => x.table === t)).toMatchObject({ match: true, method: 'ranges' });
      // Rows the pipeline had changed after the snapshot were compared as of it.
      expect(report.tables.map((t) => t.note ?? '').join('\n')).toMatch(
        /key\(s\) changed in ClickHouse after the source snapshot were compared as of it/,
      );
      console.log(
        `verify under ${during} transactions: ${report.attempts} comparison(s); ${report.tables
          .map((t) => `${t.table}: ${t.note ?? 'no note'}`)
          .join('; ')}`,
      );
    } finally {
      stop = true;
      await writer;
    }
  }, 240_000);
});

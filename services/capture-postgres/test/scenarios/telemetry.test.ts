/**
 * telemetry: the service (a child process, as deployed) serves /healthz, /readyz and /metrics
 * on its telemetry port, is ready once it streams, exports records out, committed
 * transactions, the snapshot's progress, the slot's retained WAL and the dead letters of the
 * snapshot and of the stream alike (`cdc_dead_letter_total`, as capture-mongo counts them), and
 * puts the trace context of each Kafka transaction into its records' headers.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  connectPg,
  consume,
  type Scenario,
  scenario,
  serviceDir,
  spawnCapture,
  waitFor,
  waitStreaming,
} from './harness.ts';

// One capture each (its own slot, prefix and stored position): one-transaction and chunked.
const runs = { oneTransaction: scenario('telemetry'), chunked: scenario('telemetry_chunked') };
const tableOf = (s: Scenario) => `${s.name}_t`.toLowerCase();

beforeAll(() => {
  execFileSync('npx', ['tsc', '-b', serviceDir], { stdio: 'inherit' });
});

afterAll(async () => {
  for (const s of Object.values(runs)) await cleanup(s, [tableOf(s)], [s.topicOf(tableOf(s))]);
});

describe('telemetry', () => {
  // The snapshot's dead letters count whichever way the snapshot reads: one transaction (the
  // default) or chunks merged with the stream (`snapshotOptions.chunked`).
  it.each([
    ['one-transaction', false],
    ['chunked', true],
  ])(
    'serves health, readiness and metrics, and traces every Kafka transaction (%s snapshot)',
    async (_, chunked) => {
      const s = chunked ? runs.chunked : runs.oneTransaction;
      const table = tableOf(s);
      const db = await connectPg();
      await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
      await db.query(`INSERT INTO ${table} SELECT g, 'v' FROM generate_series(1, 20) g`);
      // A row over maxRecordBytes in the snapshot, another in the stream: both dead-lettered.
      await db.query(`INSERT INTO ${table} VALUES (1001, repeat('x', 100000))`);
      const log = join(tmpdir(), `${s.name}.log`);
      const child = spawnCapture(
        s.source({
          include: [table],
          heartbeatIntervalMs: 500,
          maxRecordBytes: 65_536,
          ...(chunked ? { snapshotOptions: { chunked: true } } : {}),
        }),
        log,
      );
      try {
        let url = '';
        await waitFor('the telemetry listener logged', 30_000, () => {
          const line = readFileSync(log, 'utf8')
            .split('\n')
            .find((l) => l.includes('serving /metrics'));
          url = line ? (JSON.parse(line) as { url: string }).url : '';
          return url !== '';
        });
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
        await waitStreaming(s);
        await waitFor('ready', 30_000, async () => (await fetch(`${url}/readyz`)).status === 200);
        // A chunked snapshot reads beside the stream: rows inserted before its window is read
        // would be read too (and counted in rows done), so the stream's rows wait for it to end.
        if (chunked)
          await waitFor('the chunked snapshot finished', 30_000, () =>
            readFileSync(log, 'utf8').includes('snapshot of table finished'),
          );
        await db.query(`INSERT INTO ${table} SELECT g, 'v' FROM generate_series(21, 30) g`);
        await db.query(`INSERT INTO ${table} VALUES (1002, repeat('y', 100000))`);
        const got = await consume([s.topicOf(table)], { expected: 30, settleMs: 500 });
        expect(got.length).toBe(30);
        // W3C trace context on every record; the ten streamed rows came in one or a few transactions.
        expect(
          got.every((r) => /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/.test(r.headers.traceparent ?? '')),
        ).toBe(true);
        const topic = s.topicOf(table);
        let metrics = '';
        await waitFor('metrics exported', 30_000, async () => {
          metrics = await (await fetch(`${url}/metrics`)).text();
          return (
            metrics.includes('cdc_slot_wal_retained_bytes') &&
            metrics.includes('cdc_records_out_total') &&
            metrics.includes('cdc_dead_letter_total')
          );
        });
        const value = (name: string, label: string) => {
          const line = metrics.split('\n').find((l) => l.startsWith(name) && l.includes(label));
          return line ? Number(line.split(' ').at(-1)) : undefined;
        };
        expect(value('cdc_records_out_total', `topic="${topic}"`)).toBe(30);
        // One from the snapshot, one from the stream.
        await waitFor('both dead letters counted', 30_000, async () => {
          metrics = await (await fetch(`${url}/metrics`)).text();
          return value('cdc_dead_letter_total', `topic="${topic}"`) === 2;
        });
        expect(value('cdc_transactions_total', 'outcome="commit"')).toBeGreaterThanOrEqual(2);
        // The snapshot read 21 rows: 20 written to the topic, 1 dead-lettered.
        expect(value('cdc_snapshot_rows_done', `table="public.${table}"`)).toBe(21);
        expect(value('cdc_slot_wal_retained_bytes', `slot="${s.slot}"`)).toBeGreaterThanOrEqual(0);
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
        await db.end();
      }
    },
    120_000,
  );
});

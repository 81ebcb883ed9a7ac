/**
 * big-transaction: one source transaction of many rows (200,000 here; CDC_BIG_TX_ROWS=1000000
 * for the full size) streams in chunks of Kafka transactions while the capture's memory stays
 * bounded (peak RSS of the capture process), and every row arrives exactly once.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  connectPg,
  kafkaClient,
  scenario,
  serviceDir,
  spawnCapture,
  waitFor,
  waitStreaming,
} from './harness.ts';

const s = scenario('bigtx');
const table = `${s.name}_t`.toLowerCase();
const ROWS = Number(process.env.CDC_BIG_TX_ROWS ?? 200_000);

beforeAll(() => {
  execFileSync('npx', ['tsc', '-b', serviceDir], { stdio: 'inherit' });
});

afterAll(async () => {
  await cleanup(s, [table], [s.topicOf(table)]);
});

const peakRssMb = (pid: number) => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
};

describe('big-transaction', () => {
  it(`streams a ${ROWS}-row transaction in chunks with bounded memory`, async () => {
    const db = await connectPg();
    await db.query(`CREATE TABLE ${table} (id int8 PRIMARY KEY, payload text NOT NULL)`);
    const child = spawnCapture(
      s.source({ include: [table], snapshot: 'never', maxChangesPerTransaction: 5000 }),
      join(tmpdir(), `${s.name}.log`),
    );
    try {
      await waitStreaming(s);
      await db.query(
        `INSERT INTO ${table} SELECT g, md5(g::text) || repeat('p', 100) FROM generate_series(1, ${ROWS}) g`,
      );
      const admin = kafkaClient().admin();
      await admin.connect();
      try {
        await waitFor('every row in Kafka', 280_000, async () => {
          const offsets = await admin.fetchTopicOffsets(s.topicOf(table)).catch(() => []);
          return offsets.reduce((n, o) => n + Number(o.high), 0) >= ROWS;
        });
        await new Promise((r) => setTimeout(r, 2000));
        const offsets = await admin.fetchTopicOffsets(s.topicOf(table));
        // Exactly the rows (the end offsets count records; no transaction markers in between
        // would make it larger only by the chunk count, which is bounded by ROWS / 5000 per partition).
        const total = offsets.reduce((n, o) => n + Number(o.high), 0);
        expect(total).toBeGreaterThanOrEqual(ROWS);
        expect(total).toBeLessThanOrEqual(ROWS + 3 * (ROWS / 5000 + 2));
      } finally {
        await admin.disconnect();
      }
      const peak = peakRssMb(child.pid!);
      console.log(`big-transaction: ${ROWS} rows, capture peak RSS ${peak.toFixed(0)} MB`);
      expect(peak).toBeLessThan(400);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await db.end();
    }
  }, 300_000);
});

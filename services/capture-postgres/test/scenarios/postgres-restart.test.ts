/**
 * postgres-restart: the capture reaches PostgreSQL through a proxy that the test cuts twice
 * under load (every connection reset: the walsender exits, as when the server restarts; the
 * shared server itself stays up). The capture reconnects, resumes from what Kafka committed,
 * and every change arrives exactly once and in order per key.
 */

import { TcpProxy } from '@cdc/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  connectPg,
  consumeUntilFinal,
  endpoints,
  expectSeqRuns,
  recordingLogger,
  runCapture,
  scenario,
  waitFor,
  waitStreaming,
} from './harness.ts';

const s = scenario('pgrestart');
const table = `${s.name}_t`.toLowerCase();
const KEYS = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  await cleanup(s, [table], [s.topicOf(table)]);
});

async function walsenderPid(db: import('pg').Client): Promise<number | null> {
  const r = await db.query<{ pid: number | null }>(
    'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
    [s.slot],
  );
  return r.rows[0]?.pid ?? null;
}

describe('postgres-restart', () => {
  it('reconnects and resumes after its PostgreSQL connections die, without loss or duplicates', async () => {
    const proxy = new TcpProxy(endpoints.postgres.host, endpoints.postgres.port);
    await proxy.start();
    const db = await connectPg();
    await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, seq int NOT NULL)`);
    await db.query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, ${KEYS}) g`);
    const { logger, lines } = recordingLogger();
    const source = s.source({ include: [table], maxChangesPerTransaction: 20, heartbeatIntervalMs: 500 });
    source.connection.port = proxy.port;
    const capture = runCapture(source, logger);
    let loading = true;
    const load = (async () => {
      const w = await connectPg();
      try {
        while (loading) {
          const n = Math.random() < 0.2 ? 30 : 1 + Math.floor(Math.random() * 4);
          await w.query('BEGIN');
          for (let i = 0; i < n; i++)
            await w.query(`UPDATE ${table} SET seq = seq + 1 WHERE id = $1`, [
              1 + Math.floor(Math.random() * KEYS),
            ]);
          await w.query('COMMIT');
          await sleep(10);
        }
      } finally {
        await w.end();
      }
    })();
    try {
      await waitStreaming(s);
      for (let round = 0; round < 2; round++) {
        await sleep(2_000);
        const before = await walsenderPid(db);
        expect(before).not.toBeNull();
        await proxy.cut();
        await waitFor('the walsender gone', 10_000, async () => (await walsenderPid(db)) !== before);
        await sleep(2_000);
        await proxy.restore();
        await waitFor('streaming again on a new walsender', 60_000, async () => {
          const pid = await walsenderPid(db);
          return pid !== null && pid !== before;
        });
      }
      await sleep(2_000);
      loading = false;
      await load;
      const got = await consumeUntilFinal(db, table, s.topicOf(table));
      await expectSeqRuns(db, table, got);
      expect(lines.filter((l) => l.msg.startsWith('capture session failed')).length).toBeGreaterThanOrEqual(
        2,
      );
    } finally {
      loading = false;
      await load.catch(() => undefined);
      await capture.stop();
      await proxy.close();
      await db.end();
    }
  }, 180_000);
});

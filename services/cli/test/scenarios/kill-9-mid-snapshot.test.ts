/**
 * kill-9-mid-snapshot: a pipeline started with `cdc up` (capture-postgres and the sink on the
 * embedded engine) takes the initial snapshot of a 200k-row table with a uuid primary key while
 * rows change; capture-postgres is killed with SIGKILL 3 times during the snapshot and the
 * supervisor brings it back each time. Each new capture resumes after the last chunk Kafka
 * committed (it does not start the table again), `cdc verify` passes, and the table's history in
 * ClickHouse holds each snapshot row once (one snapshot read per key, no change id twice). The
 * first rows reach ClickHouse while the snapshot is still under way (windows commit on their own).
 * `CDC_KILL9_SNAPSHOT_ROWS=5000000` runs the same with a larger table (by hand, not in CI).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openReader } from '@cdc/clickhouse';
import { createJsonLogger } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, KafkaConfigSchema } from '@cdc/kafka';
import { StateDir } from '@cdc/operate';
import { loadPipeline } from '@cdc/pipeline';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';

const root = resolve(import.meta.dirname, '../../../..');
const ep = localEndpoints();
const id = `i17_k9s_${process.pid}_${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'cdc-kill-9-snapshot-'));
const config = join(dir, 'pipeline.yaml');
const stateDir = join(dir, 'state');
const state = new StateDir(stateDir);
const httpPort = 18_800 + (process.pid % 400);
/** 200k in CI; `CDC_KILL9_SNAPSHOT_ROWS=5000000` for the run by hand (kills spread in proportion). */
const ROWS = Number(process.env.CDC_KILL9_SNAPSHOT_ROWS ?? 200_000);
const SCALE = ROWS / 200_000;
const KILLS = 3;

const superuser = (database: string) =>
  new pg.Client({
    host: resolve(ep.stackDir, 'data/postgres/sock'),
    port: ep.postgres.port,
    user: 'postgres',
    database,
  });
const cdcUser = () =>
  new pg.Client({ host: '127.0.0.1', port: ep.postgres.port, user: 'cdc', password: 'cdc', database: id });

function cdc(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(
    process.execPath,
    ['services/cli/dist/main.js', ...args, '--config', config, '--state-dir', stateDir],
    { cwd: root, encoding: 'utf8', timeout: Math.max(150_000, (ROWS / 200_000) * 150_000) },
  );
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

async function dropAll(): Promise<void> {
  const admin = superuser('postgres');
  await admin.connect();
  try {
    await admin.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
      [id],
    );
    await admin.query(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const kafka = createKafka(
    KafkaConfigSchema.parse({ brokers: ep.kafka.brokers, clientId: id }),
    createJsonLogger({ level: 'error' }),
  );
  const admin2 = kafka.admin();
  await admin2.connect();
  try {
    await deleteTopicsIfExist(
      admin2,
      (await admin2.listTopics()).filter((t) => t.startsWith(id)),
    );
    await admin2.deleteGroups([`${id}-sink`]).catch(() => undefined);
  } finally {
    await admin2.disconnect();
  }
}

const captureLog = () => {
  try {
    return readFileSync(state.logFile('capture-postgres'), 'utf8');
  } catch {
    return '';
  }
};
const count = (text: string, msg: string) => text.split(`"msg":"${msg}"`).length - 1;

beforeAll(async () => {
  const build = spawnSync(
    'npx',
    ['tsc', '-b', 'services/cli', 'services/capture-postgres', 'services/sink-clickhouse'],
    { cwd: root, encoding: 'utf8' },
  );
  expect(build.status, build.stdout + build.stderr).toBe(0);
  await dropAll().catch(() => undefined);
  const admin = superuser('postgres');
  await admin.connect();
  await admin.query(`CREATE DATABASE ${id} OWNER cdc`);
  await admin.end();
  const db = superuser(id);
  await db.connect();
  await db.query('SET ROLE cdc');
  await db.query(
    'CREATE TABLE public.items (id uuid PRIMARY KEY, sku int8 NOT NULL, name text NOT NULL, price numeric(10,2), seq int NOT NULL DEFAULT 0)',
  );
  await db.query(
    `INSERT INTO public.items (id, sku, name, price) SELECT gen_random_uuid(), g, 'item ' || g, (g % 10000) / 100.0 FROM generate_series(1, ${ROWS}) g`,
  );
  await db.query('ANALYZE public.items');
  await db.query('RESET ROLE');
  await db.query(`CREATE PUBLICATION ${id} FOR TABLE public.items`);
  await db.end();
  writeFileSync(
    config,
    `kafka:
  brokers: ["${ep.kafka.brokers[0]}"]
  clientId: ${id}
registry:
  url: "${ep.registry.url}"
sources:
  postgres:
    - name: ${id}
      connection: { host: 127.0.0.1, port: ${ep.postgres.port}, database: ${id}, user: cdc, password: cdc }
      publication: ${id}
      slot: ${id}
      offsetsTopic: ${id}.offsets
      snapshotOptions: { chunked: true, parallelism: 2, chunkRows: 2000 }
clickhouse:
  embedded:
    path: ${join(dir, 'clickhouse')}
    http: { port: ${httpPort} }
  database: k9s
  sink:
    groupId: ${id}-sink
    topics: ["/^${id}\\\\.${id}\\\\./"]
    deadLetterTopic: ${id}.sink-dlq
    topicRefreshMs: 1000
    batch: { maxWaitMs: 200 }
`,
  );
}, 180_000);

afterAll(async () => {
  cdc('down');
  await dropAll().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

it(`${KILLS} kill -9 of the capture during the snapshot of a uuid-keyed table: resumed, verify passes, each snapshot row once`, {
  timeout: SCALE * 300_000,
}, async () => {
  const tUp = Date.now();
  const up = cdc('up');
  expect(up.status, up.out).toBe(0);
  expect(up.out).toMatch(/capture-postgres: started/);

  // Updates of random rows all along (the snapshot merges them with the stream).
  let writing = true;
  let updates = 0;
  const writer = (async () => {
    const c = cdcUser();
    await c.connect();
    try {
      while (writing) {
        await c.query(
          'UPDATE public.items SET seq = seq + 1 WHERE id = (SELECT id FROM public.items WHERE sku = $1)',
          [1 + Math.floor(Math.random() * ROWS)],
        );
        updates++;
        await sleep(10);
      }
    } finally {
      await c.end();
    }
  })();

  const kills: string[] = [];
  let snapshotSeconds = 0;
  // When rows first show in ClickHouse (through the sink's query endpoint), polled meanwhile.
  const pipeline = loadPipeline(config);
  const current = `k9s.${id}_${id}_public_items`;
  let firstRowsSeconds: number | undefined;
  let polling = true;
  const poller = (async () => {
    while (polling && firstRowsSeconds === undefined) {
      try {
        const reader = await openReader(pipeline.clickhouse!, { openDirectory: false });
        try {
          const [c] = await reader.query<{ n: string }>(`SELECT count() AS n FROM ${current}`);
          if (Number(c?.n) > 0) firstRowsSeconds = (Date.now() - tUp) / 1000;
        } finally {
          await reader.close();
        }
      } catch {
        // the sink or its table is not there yet
      }
      await sleep(250);
    }
  })();
  try {
    for (let k = 0; k < KILLS; k++) {
      // Wait for this incarnation's snapshot to be under way, then kill it.
      const started = k + 1;
      const t0 = Date.now();
      while (count(captureLog(), 'snapshot of keyed tables in chunks') < started) {
        expect(Date.now() - t0, `capture incarnation ${started} did not start its snapshot`).toBeLessThan(
          60_000,
        );
        await sleep(100);
      }
      await sleep(SCALE * (500 + Math.random() * 700));
      expect(captureLog(), 'the snapshot finished before the kill').not.toContain(
        '"msg":"snapshot of table finished"',
      );
      const pid = state.read()?.services['capture-postgres']?.pid ?? 0;
      expect(pid).toBeGreaterThan(0);
      process.kill(pid, 'SIGKILL');
      kills.push(`pid ${pid}`);
    }
    // The last incarnation finishes the snapshot.
    const t0 = Date.now();
    while (!captureLog().includes('"msg":"snapshot of table finished"')) {
      expect(Date.now() - t0, 'the snapshot did not finish').toBeLessThan(SCALE * 120_000);
      await sleep(200);
    }
    snapshotSeconds = (Date.now() - tUp) / 1000;
    await sleep(2_000);
  } finally {
    writing = false;
    polling = false;
    await writer;
    await poller;
  }
  // The first windows reached ClickHouse before the whole table was read.
  expect(firstRowsSeconds, 'no row reached ClickHouse during the snapshot').toBeDefined();
  expect(firstRowsSeconds as number).toBeLessThan(snapshotSeconds);
  expect(kills).toHaveLength(KILLS);
  expect(updates).toBeGreaterThan(0);

  // Every restarted capture resumed after a committed chunk (a key to go on from), none started over.
  const log = captureLog();
  const resumed = log
    .split('\n')
    .filter((l) => l.includes('"msg":"incremental snapshot resumed"'))
    .map((l) => JSON.parse(l) as { lastKey: string[] | null });
  expect(resumed.length).toBeGreaterThanOrEqual(KILLS - 1);
  for (const r of resumed) expect(r.lastKey).toHaveLength(1);
  expect(log).not.toContain('dropping the slot of an interrupted snapshot');

  const tVerify = Date.now();
  const v = cdc('verify', '--timeout', String(Math.round(SCALE * 120)));
  expect(v.out, v.out.slice(-4000)).toMatch(/verify: OK — 1 table\(s\) match/);
  expect(v.out).toMatch(new RegExp(`ok +public\\.items +${ROWS} / ${ROWS} rows`));
  expect(v.status).toBe(0);

  const down = cdc('down');
  expect(down.status, down.out).toBe(0);

  // The history: one snapshot read per key, each change once.
  const reader = await openReader(pipeline.clickhouse!, { openDirectory: true });
  try {
    const history = `k9s.${id}_${id}_public_items_history`;
    const [snap] = await reader.query<{ rows: string; keys: string; ids: string }>(
      `SELECT count() AS rows, uniqExact(id) AS keys, uniqExact(_change_id) AS ids FROM ${history} WHERE startsWith(_change_id, 'snap-')`,
    );
    const [all] = await reader.query<{ rows: string; ids: string }>(
      `SELECT count() AS rows, uniqExact(_change_id) AS ids FROM ${history}`,
    );
    process.stdout.write(
      `kill-9-mid-snapshot: ${ROWS} rows, ${kills.length} kills, ${resumed.length} resumes, ${updates} updates, first rows in ClickHouse ${firstRowsSeconds?.toFixed(1)} s and snapshot done ${snapshotSeconds.toFixed(1)} s after cdc up, verify ${((Date.now() - tVerify) / 1000).toFixed(1)} s (with cdc down); history: ${JSON.stringify({ snap, all })}\n`,
    );
    expect(Number(snap?.rows)).toBe(Number(snap?.keys));
    expect(Number(snap?.rows)).toBe(Number(snap?.ids));
    // Every row was read by the snapshot but those the stream changed while their chunk was in flight.
    expect(Number(snap?.rows)).toBeGreaterThan(ROWS - updates - 1);
    expect(Number(all?.rows)).toBe(Number(all?.ids));
  } finally {
    await reader.close();
  }
});

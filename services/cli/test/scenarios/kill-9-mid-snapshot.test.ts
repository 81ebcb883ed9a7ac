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
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { openReader } from '@cdc/clickhouse';
import { StateDir } from '@cdc/operate';
import { loadPipeline } from '@cdc/pipeline';
import {
  buildPackages,
  cdcCommand,
  createSourceDatabase,
  dropScenario,
  freePort,
  pgOwner,
  scenarioFiles,
  scenarioPipeline,
  tearDownScenario,
} from '@cdc/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';

const id = `i17_k9s_${process.pid}_${Date.now().toString(36)}`;
const files = scenarioFiles('kill-9-snapshot');
const { config } = files;
const state = new StateDir(files.stateDir);
// A port the OS says is free: a range by pid reached the stack's own (Kafka's 19092).
const httpPort = await freePort();
/** 400k in CI; `CDC_KILL9_SNAPSHOT_ROWS=5000000` for the run by hand (kills spread in proportion). */
const ROWS = Number(process.env.CDC_KILL9_SNAPSHOT_ROWS ?? 400_000);
const SCALE = ROWS / 200_000;
const KILLS = 3;

const cdcUser = () => pgOwner(id);
const cdc = cdcCommand({ ...files, timeoutMs: Math.max(150_000, (ROWS / 200_000) * 150_000) });
const dropAll = () => dropScenario(id, { slot: 'drop-if-inactive' });

const captureLog = () => {
  try {
    return readFileSync(state.logFile('capture-postgres'), 'utf8');
  } catch {
    return '';
  }
};
const count = (text: string, msg: string) => text.split(`"msg":"${msg}"`).length - 1;

/** The rows of the table the snapshot has read, by the running capture's `cdc_snapshot_rows_done` (0 before it says). */
async function rowsDoneNow(): Promise<number> {
  const urls = [
    ...captureLog().matchAll(/"msg":"serving \/metrics \/healthz \/readyz"[^\n]*"url":"([^"]+)"/g),
  ];
  const url = urls.at(-1)?.[1];
  if (!url) return 0;
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const m = /^cdc_snapshot_rows_done\{[^}]*table="public\.items"[^}]*\} (\d+)/m.exec(await res.text());
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

beforeAll(async () => {
  const build = buildPackages('services/cli', 'services/capture-postgres', 'services/sink-clickhouse');
  expect(build.status, build.out).toBe(0);
  await dropAll().catch(() => undefined);
  await createSourceDatabase(
    id,
    async (db) => {
      await db.query(
        'CREATE TABLE public.items (id uuid PRIMARY KEY, sku int8 NOT NULL, name text NOT NULL, price numeric(10,2), seq int NOT NULL DEFAULT 0)',
      );
      await db.query(
        `INSERT INTO public.items (id, sku, name, price) SELECT gen_random_uuid(), g, 'item ' || g, (g % 10000) / 100.0 FROM generate_series(1, ${ROWS}) g`,
      );
      await db.query('ANALYZE public.items');
    },
    'FOR TABLE public.items',
  );
  writeFileSync(
    config,
    scenarioPipeline({
      id,
      dir: files.dir,
      httpPort,
      database: 'k9s',
      sinkTopics: `^${id}\\.${id}\\.`,
      postgres: 'snapshotOptions: { chunked: true, parallelism: 2, chunkRows: 2000 }',
    }),
  );
}, 180_000);

afterAll(() => tearDownScenario({ id, files, cdc, drop: { slot: 'drop-if-inactive' } }), 120_000);

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
  let doneAtKill = 0;
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
      // Then kill it once it has read its share (a tenth of the table past where the last one
      // was killed, so that each of the KILLS incarnations makes progress and the last one
      // still has rows to read): by progress, not after a fixed time, which a fast machine
      // overran and a busy one undershot. The gauge counts across restarts; it is read over
      // HTTP from a busy process, so it can be read late (the share leaves room for that).
      const t1 = Date.now();
      while ((await rowsDoneNow()) < doneAtKill + ROWS / 10) {
        expect(captureLog(), 'the snapshot finished before the kill').not.toContain(
          '"msg":"snapshot of table finished"',
        );
        if (Date.now() - t1 > SCALE * 90_000)
          throw new Error(
            `capture incarnation ${started} read no tenth of the table more in ${SCALE * 90} s; its log ends:\n${captureLog().trimEnd().split('\n').slice(-12).join('\n')}`,
          );
        await sleep(50);
      }
      expect(captureLog(), 'the snapshot finished before the kill').not.toContain(
        '"msg":"snapshot of table finished"',
      );
      const pid = state.read()?.services['capture-postgres']?.pid ?? 0;
      expect(pid).toBeGreaterThan(0);
      doneAtKill = await rowsDoneNow();
      process.kill(pid, 'SIGKILL');
      kills.push(`pid ${pid} at ${doneAtKill} rows`);
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
      `kill-9-mid-snapshot: ${ROWS} rows, ${kills.length} kills (${kills.join(', ')}), ${resumed.length} resumes, ${updates} updates, first rows in ClickHouse ${firstRowsSeconds?.toFixed(1)} s and snapshot done ${snapshotSeconds.toFixed(1)} s after cdc up, verify ${((Date.now() - tVerify) / 1000).toFixed(1)} s (with cdc down); history: ${JSON.stringify({ snap, all })}\n`,
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

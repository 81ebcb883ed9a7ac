/**
 * pipeline-chaos: the demo pipeline on the demo's default scale (~300k rows, so the processor is
 * behind for more than a minute after the snapshot) started with `cdc up` (the supervisor) runs
 * under the change generator (up to 200 transactions/s), and 10 times a service is killed with
 * SIGKILL at a random moment, the processor the first two times (while it works through the
 * backlog), then a random one; the supervisor brings each back. Afterwards: every kill shows as a restart in
 * the supervisor's record; `cdc verify` passes for every table and collection; each change is
 * once in its topic and once in its table's history; and every window of every aggregate equals
 * a GROUP BY over the source (the replicated tables that verify proved equal to PostgreSQL and
 * MongoDB; sessions over the collection's change history): no change lost to lateness, every
 * retraction applied, every emptied group deleted.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openReader } from '@cdc/clickhouse';
import { down, type ServiceName, StateDir, up, verify } from '@cdc/operate';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ChangeGenerator } from '../../../../scripts/demo/generator.ts';
import { reconcile, reconciliationLine } from '../../../../scripts/demo/reconcile.ts';
import { shopClient } from '../../../../scripts/demo/shop.ts';
import {
  historyExactlyOnce,
  prepareScenario,
  ROOT,
  type Scenario,
  SERVICES,
  scenario,
  waitCaughtUp,
  wipePipeline,
} from './pipeline-harness.ts';

const KILLS = 10;
const RATE = 200;
const s: Scenario = { ...scenario('cdc_chaos', 18_128) };
// The demo's default scale (~300k rows): the processor works through the snapshot for more than a
// minute, the time in which a backlog used to turn into late (dropped) changes.
s.shop.scale = 1;
const config = resolve(ROOT, 'infra/pipelines/demo.yaml');
const state = new StateDir(mkdtempSync(join(tmpdir(), 'cdc-chaos-')));
const say = (l: string) => process.stdout.write(`${l}\n`);

beforeAll(async () => {
  await prepareScenario(s);
}, 180_000);

afterAll(async () => {
  await down(state, () => undefined, 10_000);
  await wipePipeline(s).catch(() => undefined);
}, 180_000);

it(`${KILLS} kill -9 of random services under load: verify passes, each change once, aggregates equal the source`, {
  timeout: 1_500_000,
}, async () => {
  const started = await up(config, state, say, s.env);
  expect(started.failed, 'a service failed at start').toEqual([]);
  // The four data services, and the control service (the demo pipeline has API tokens).
  expect(started.started.sort()).toEqual([...SERVICES, 'control'].sort());
  const client = shopClient(s.shop);
  await client.connect();
  const mongo = new MongoClient(s.shop.mongoUrl);
  await mongo.connect();
  const counts = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM products');
  const gen = new ChangeGenerator(client, mongo.db(s.db), RATE, Number(counts.rows[0]?.n ?? 100), 250);
  gen.start();
  const kills: ServiceName[] = [];
  try {
    await sleep(15_000);
    for (let i = 0; i < KILLS; i++) {
      await sleep(5_000 + Math.random() * 10_000);
      const st = state.read();
      // The processor twice while it is behind, then any service killed fewer than 4 times (5 exits
      // in 5 minutes is a crash loop by the supervisor's policy, which this test does not inject).
      const eligible = SERVICES.filter((n) => kills.filter((k) => k === n).length < 4);
      const name =
        i < 2 ? 'processor' : (eligible[Math.floor(Math.random() * eligible.length)] as ServiceName);
      const pid = st?.services[name]?.pid ?? 0;
      if (pid <= 0) continue; // being restarted right now: another moment
      process.kill(pid, 'SIGKILL');
      kills.push(name);
    }
    await sleep(15_000);
  } finally {
    await gen.stop();
    await client.end();
    await mongo.close();
  }
  say(`generator: ${JSON.stringify(gen.stats)}; killed: ${kills.join(', ')}`);
  expect(kills.length).toBeGreaterThanOrEqual(KILLS - 2);
  expect(gen.stats.errors).toBe(0);

  // Every kill was restarted by the supervisor, and every service runs.
  const waitedMs = await waitCaughtUp(s, 600_000);
  say(`caught up ${(waitedMs / 1000).toFixed(0)} s after the generator stopped`);
  const st = state.read();
  for (const name of SERVICES) {
    const killed = kills.filter((k) => k === name).length;
    const record = st?.services[name];
    expect(record?.pid, `${name} is not running`).toBeGreaterThan(0);
    expect(record?.restarts ?? 0, `${name}: killed ${killed}×`).toBeGreaterThanOrEqual(killed);
    expect(record?.crashLoop, `${name} in a crash loop`).toBe(false);
  }
  await down(state, say);
  // No change was dropped as late, in any of the processor's lives (its log spans them all).
  const late = (
    readFileSync(state.logFile('processor'), 'utf8').match(/late record counted and skipped/g) ?? []
  ).length;
  expect(late, 'changes the processor dropped as late').toBe(0);

  const report = await verify({ config, timeoutMs: 120_000, env: s.env });
  expect(report.ok, JSON.stringify(report, null, 2).slice(0, 4000)).toBe(true);

  const once = await historyExactlyOnce(s);
  say(`history: ${JSON.stringify(once.counts)}`);
  expect(once.problems, once.problems.join('\n')).toEqual([]);

  const reader = await openReader(s.pipeline.clickhouse!);
  try {
    const results = await reconcile(reader, s.pipeline, s.pipeline.clickhouse!.database);
    for (const r of results) say(reconciliationLine(r));
    expect(results.map((r) => r.aggregate).sort()).toEqual([
      'cart_sessions',
      'revenue_by_region_1m',
      'top_products_15m',
    ]);
    for (const r of results) {
      expect(r.skipped, r.aggregate).toBeUndefined();
      expect(r.compared, r.aggregate).toBeGreaterThan(0);
      expect(r.differing, reconciliationLine(r)).toBe(0);
      expect(r.aggregateCount, r.aggregate).toBe(r.sourceCount);
    }
  } finally {
    await reader.close();
  }
});

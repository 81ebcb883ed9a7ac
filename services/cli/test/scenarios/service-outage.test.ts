/**
 * service-outage: the demo pipeline runs with the change generator on, and Kafka, the schema
 * registry and ClickHouse are each made unavailable for 30 s (the broker and the registry
 * stopped and started again, as a restart or an upgrade does; the embedded ClickHouse's table
 * directories made immutable, so that every insert fails as on a broken disk). No service
 * exits; each answers ready again after each outage; and afterwards nothing is lost or
 * duplicated: `cdc verify` passes for every table and collection, every PostgreSQL table topic
 * holds each change once, and each table's history in ClickHouse holds every change of its
 * topic exactly once.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openReader } from '@cdc/clickhouse';
import { verify } from '@cdc/operate';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ChangeGenerator } from '../../../../scripts/demo/generator.ts';
import { shopClient } from '../../../../scripts/demo/shop.ts';
import {
  historyExactlyOnce,
  prepareScenario,
  ROOT,
  type Scenario,
  SERVICES,
  ServiceProcess,
  scenario,
  waitCaughtUp,
  wipePipeline,
} from './pipeline-harness.ts';

const OUTAGE_MS = 30_000;
const s: Scenario = scenario('cdc_outage', 18_127);
let running: ServiceProcess[] = [];

function stack(...args: string[]): void {
  const r = spawnSync(process.execPath, ['infra/local/src/stack.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (r.status !== 0) throw new Error(`stack ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
}

interface Outage {
  name: string;
  begin(): Promise<void>;
  end(): Promise<void>;
}

const outages: Outage[] = [
  {
    name: 'kafka',
    begin: async () => stack('down', '--only', 'kafka'),
    end: async () => stack('up', '--only', 'kafka'),
  },
  {
    name: 'registry',
    begin: async () => stack('down', '--only', 'registry'),
    end: async () => stack('up', '--only', 'registry'),
  },
  (() => {
    let paths: string[] = [];
    return {
      name: 'clickhouse',
      async begin() {
        const reader = await openReader(s.pipeline.clickhouse!);
        try {
          const rows = await reader.query<{ path: string }>(
            "SELECT arrayJoin(data_paths) AS path FROM system.tables WHERE database = 'demo' AND engine LIKE '%MergeTree'",
          );
          paths = rows.map((r) => r.path.replace(/\/$/, ''));
        } finally {
          await reader.close();
        }
        expect(paths.length).toBeGreaterThan(8);
        execFileSync('chattr', ['+i', ...paths]);
      },
      async end() {
        execFileSync('chattr', ['-i', ...paths]);
      },
    };
  })(),
];

async function allReady(boundMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  const pending = new Set(running);
  while (pending.size > 0) {
    for (const p of [...pending]) {
      expect(p.running, `${what}: ${p.name} exited:\n${p.tail()}`).toBe(true);
      if ((await p.readyz()).ready) pending.delete(p);
    }
    if (pending.size === 0) return;
    if (Date.now() - t0 > boundMs) {
      const bodies = await Promise.all(
        [...pending].map(async (p) => `${p.name}: ${(await p.readyz()).body}`),
      );
      throw new Error(`${what}: not ready within ${boundMs / 1000} s:\n${bodies.join('\n')}`);
    }
    await sleep(500);
  }
}

beforeAll(async () => {
  await prepareScenario(s);
}, 180_000);

afterAll(async () => {
  // Whatever happened, the services stop, the stack's servers run again and no directory stays
  // immutable (a failed `stack up` here left the services running into the next test file).
  await Promise.all(running.map((p) => p.stop(5_000)));
  stack('up', '--only', 'kafka,registry');
  await wipePipeline(s).catch(() => undefined);
}, 300_000);

it('Kafka, the registry and ClickHouse each away for 30 s: no service exits, nothing lost or duplicated', {
  timeout: 900_000,
}, async () => {
  running = SERVICES.map((name) => new ServiceProcess(name, s.env));
  await allReady(120_000, 'start');
  const client = shopClient(s.shop);
  await client.connect();
  const mongo = new MongoClient(s.shop.mongoUrl);
  await mongo.connect();
  const gen = new ChangeGenerator(client, mongo.db(s.db), 30, 20, 50);
  gen.start();
  const log: string[] = [];
  try {
    await sleep(10_000);
    for (const outage of outages) {
      const t0 = Date.now();
      await outage.begin();
      const notReady = new Set<string>();
      try {
        while (Date.now() - t0 < OUTAGE_MS) {
          for (const p of running) {
            expect(p.running, `${outage.name} outage: ${p.name} exited:\n${p.tail()}`).toBe(true);
            if (!(await p.readyz()).ready) notReady.add(p.name);
          }
          await sleep(1_000);
        }
      } finally {
        await outage.end();
      }
      await allReady(180_000, `after the ${outage.name} outage`);
      log.push(
        `${outage.name}: away ${((Date.now() - t0) / 1000).toFixed(0)} s; not ready meanwhile: ${[...notReady].join(', ') || 'none'}; ready again ${((Date.now() - t0) / 1000).toFixed(0)} s after it began`,
      );
      await sleep(5_000);
    }
  } finally {
    await gen.stop();
    await client.end();
    await mongo.close();
  }
  expect(gen.stats.transactions).toBeGreaterThan(500);

  // Caught up: the sink over every demo topic, the processor over its inputs.
  await waitCaughtUp(s, 300_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${running.map((p) => `--- ${p.name}:\n${p.tail(40)}`).join('\n')}`);
  });
  for (const p of running) expect(p.running, `${p.name} exited:\n${p.tail()}`).toBe(true);
  const exits = await Promise.all(running.map((p) => p.stop()));
  for (const [i, e] of exits.entries())
    expect(e, `${running[i]?.name} did not stop cleanly`).toEqual({ code: 0, signal: null });
  // Stopped (nothing left for afterAll): their output stays for the failure messages below.
  const stopped = running;
  running = [];
  // The Kafka outage cost the processor no restore from scratch: its tasks closed meanwhile
  // (their transaction failed, or the group moved on) kept their stores under a checkpoint, and
  // opened again restoring only what their changelogs hold past it.
  const processor = stopped.find((p) => p.name === 'processor');
  const wholeRestores = (processor?.output ?? '')
    .split('\n')
    .filter((line) => line.includes('"msg":"task ready"'))
    .filter((line) =>
      [...line.matchAll(/\[(\d+),(\d+)\]/g)].some(([, from, to]) => from === '0' && Number(to) > 0),
    );
  expect(wholeRestores, 'tasks that restored a changelog from its start after the outages').toEqual([]);
  // The sink's first flushes that failed on the immutable directories: each error names the
  // table's directory and the step (the first one may be a part's rename, mid-insert).
  const sinkLog = () => {
    const sink = stopped.find((p) => p.name === 'sink-clickhouse');
    const failed = (sink?.output ?? '')
      .split('\n')
      .filter((line) => line.includes('flush failed') && line.includes('filesystem error'));
    const first = failed.slice(0, 10).map((line) => line.slice(0, 1_500));
    return `--- sink-clickhouse, its first flushes failed on the disk (${failed.length} in all):\n${first.join('\n')}\n--- its last lines:\n${sink?.tail(20) ?? ''}`;
  };

  // Nothing lost: the replica equals the source, every table and collection.
  const report = await verify({
    config: resolve(ROOT, 'infra/pipelines/demo.yaml'),
    timeoutMs: 120_000,
    env: s.env,
  });
  expect(report.ok, `${JSON.stringify(report, null, 2).slice(0, 4000)}\n${sinkLog()}`).toBe(true);

  // Nothing duplicated: each change once in its topic, and once in the table's history.
  const once = await historyExactlyOnce(s);
  expect(once.problems, `${once.problems.join('\n')}\n${sinkLog()}`).toEqual([]);
  process.stdout.write(`service-outage:\n${log.join('\n')}\n`);
});

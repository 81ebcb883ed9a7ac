/**
 * `npm run demo [-- --duration N] [--rate R] [--scale S] [--stall S] [--timeout T]`: the whole
 * pipeline on the local stack, and a verdict that tells the truth.
 *
 * 1. the local stack up; the services built;
 * 2. the demo shop, fresh: PostgreSQL `customers`, `products`, `orders`, `order_items`
 *    (~300k rows at scale 1) and MongoDB `carts`, `clicks` (scripts/demo/shop.ts);
 * 3. `cdc up --config infra/pipelines/demo.yaml`: the supervisor starts the captures, the control
 *    service (its console's URL is printed; a viewer and an operator token for this run are in a
 *    file only you can read, scripts/demo/control-access.ts), the consumers
 *    once the captures are ready, and restarts a service that exits (services not in this
 *    checkout are named and skipped);
 * 4. the change generator at R transactions/s and a live view until N seconds passed (or Ctrl-C);
 *    its "services:" line shows a service that exited or was restarted;
 * 5. the generator stops; the capture, the processor and the sink catch up: the demo waits until
 *    the capture's slot has confirmed the source's WAL position of that moment, and while the
 *    total lag (the sink's group over the demo topics, the processor's over its inputs) keeps shrinking,
 *    printing it every 10 s, and gives up when it has not shrunk for `--stall` s (default 60),
 *    after `--timeout` s (default 900), or at a second Ctrl-C;
 * 6. every service's `/readyz`, then `cdc down`; `cdc verify` only if the pipeline caught up with
 *    every service running; the three analytics queries over the processor's aggregates
 *    (scripts/demo/analytics.ts);
 * 7. the last line, `demo passed in …` or `demo FAILED in …: <every reason>` (scripts/demo/outcome.ts):
 *    a service that crashed (even if restarted), is not running or not ready at the end; a
 *    pipeline that did not catch up; verify failed or skipped; an analytics query that failed or
 *    printed no row. The exit status is 0 only when the demo passed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { StackState } from '@cdc/operate';
import type { AnalyticsResult, ReconciledAggregate, ServiceCheck, VerifyOutcome } from './demo/outcome.ts';
import type { Reconciliation } from './demo/reconcile.ts';

const root = resolve(import.meta.dirname, '..');
const say = (s: string) => process.stdout.write(`${s}\n`);
const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    rate: { type: 'string', default: '50' },
    scale: { type: 'string', default: '1' },
    stall: { type: 'string', default: '60' },
    timeout: { type: 'string', default: '900' },
  },
});
/** A positive number of a flag, or the demo stops here naming it. */
function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    say(`demo: --${flag} wants a positive number, not "${text}"`);
    process.exit(2);
  }
  return n;
}
const duration =
  values.duration === undefined ? Number.POSITIVE_INFINITY : positive('duration', values.duration);
const rate = positive('rate', values.rate);
const scale = positive('scale', values.scale);
const stallS = positive('stall', values.stall);
const timeoutS = positive('timeout', values.timeout);
const config = resolve(root, 'infra/pipelines/demo.yaml');
const t0 = Date.now();

// 1. The stack and the build.
const stack = spawnSync(
  process.execPath,
  ['infra/local/src/stack.ts', 'up', '--only', 'postgres,kafka,registry,mongo'],
  {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
if (stack.status !== 0) process.exit(stack.status ?? 1);
const buildable = [
  'services/cli',
  ...['capture-postgres', 'capture-mongo', 'processor', 'sink-clickhouse', 'control']
    .map((s) => `services/${s}`)
    .filter((d) => existsSync(resolve(root, d, 'src/main.ts'))),
];
const build = spawnSync('tsc', ['-b', ...buildable], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  say('demo: the build failed (see above)');
  process.exit(1);
}

// The modules below import the workspace packages' builds: load them after the build.
const { createJsonLogger } = await import('@cdc/core');
const { createKafka, deleteTopicsIfExist } = await import('@cdc/kafka');
const { loadPipeline } = await import('@cdc/pipeline');
const { localEndpoints } = await import('@cdc/local-stack');
const { openReader } = await import('@cdc/clickhouse');
const {
  availability,
  down,
  formatTable,
  formatVerifyReport,
  isAlive,
  pipelineRates,
  probeTelemetry,
  StateDir,
  servicesOf,
  tail,
  up,
  verify,
} = await import('@cdc/operate');
const { analyticsQueries } = await import('./demo/analytics.ts');
const { reconcile, reconciliationLine } = await import('./demo/reconcile.ts');
const { createShop, resetShop, shopClient } = await import('./demo/shop.ts');
const { ChangeGenerator } = await import('./demo/generator.ts');
const { line, render, scrape } = await import('./demo/live-view.ts');
const { captureReader, catchUp: runCatchUp } = await import('./demo/catch-up.ts');
const { makeDemoTokens, waitControlUrl } = await import('./demo/control-access.ts');
const { catchUpReason, clip, finalLine, outcome, serviceLabel, verifyOutcome, verifySkipReason } =
  await import('./demo/outcome.ts');
const { MongoClient } = await import('mongodb');

const pipeline = loadPipeline(config);
const pgSource = pipeline.sources.postgres[0]!;
const db = pgSource.connection.database;
const ep = localEndpoints();
const section = pipeline.clickhouse!;
const state = new StateDir(resolve(root, '.stack/pipeline-demo'));
const serviceNames = servicesOf(pipeline);
const notes: string[] = [];
const skipped = serviceNames.filter((s) => !availability(s).available);
for (const m of skipped) {
  const a = availability(m);
  notes.push(`${m} is not running: ${a.available ? '' : a.reason}; its part of the demo is skipped`);
}
const expected = serviceNames.filter((s) => !skipped.includes(s));
/** The live view's "services:" line: each service the demo expects, and whether it exited or was restarted. */
const servicesLine = (st: StackState | undefined) =>
  `services: ${expected
    .map((n) => {
      const r = st?.services[n];
      return r ? serviceLabel(n, r, r.pid > 0 && isAlive(r.pid)) : `${n} (not started)`;
    })
    .join(', ')}`;

// 2. A fresh shop: stop a previous demo, drop its database, slot, topics, groups and ClickHouse data.
await down(state, () => undefined, 15_000);
const kafka = createKafka(pipeline.kafka, createJsonLogger({ level: 'error' }));
const admin = kafka.admin();
await admin.connect();
const old = (await admin.listTopics()).filter(
  (t) =>
    /^demo(docs)?\./.test(t) ||
    t.startsWith(`${db}`) ||
    t.startsWith(pipeline.processing?.applicationId ?? '\u0000'),
);
await deleteTopicsIfExist(admin, old);
await admin
  .deleteGroups([section.sink.groupId, pipeline.processing?.applicationId ?? ''])
  .catch(() => undefined);
if ('embedded' in section) rmSync(resolve(root, section.embedded.path), { recursive: true, force: true });
if (pipeline.processing)
  rmSync(resolve(root, pipeline.processing.stateDir), { recursive: true, force: true });
const shopOpts = {
  pgPort: ep.postgres.port,
  stackDir: ep.stackDir,
  database: db,
  mongoUrl: ep.mongo.url,
  scale,
};
const t = Date.now();
await resetShop(shopOpts);
const counts = await createShop(shopOpts);
say(
  `demo shop created in ${((Date.now() - t) / 1000).toFixed(1)} s: ${Object.entries(counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);

// 3. The pipeline (the supervisor starts the consumers once the captures are ready). Exits
// recorded before this moment belong to an earlier run.
const upAt = Date.now();
rmSync(resolve(state.dir, 'run', 'control.url'), { force: true });
const access = makeDemoTokens(state.dir);
await up(config, state, say, { ...process.env, ...access.env });
const consoleUrl = await waitControlUrl(state.dir, 30_000);
say(
  consoleUrl
    ? `console: ${consoleUrl} (log in with a token of ${access.file}: viewer or operator)`
    : `console: the control service did not say where it listens within 30 s (\`cdc logs control --state-dir ${state.dir}\`)`,
);

// 4. The generator and the live view.
const client = shopClient(shopOpts);
await client.connect();
const mongo = new MongoClient(ep.mongo.url);
await mongo.connect();
const gen = new ChangeGenerator(client, mongo.db(db), rate, counts.products ?? 10, counts.carts ?? 50);
gen.start();
// Ctrl-C stops the generator; a second one ends the catch-up (the demo still stops the pipeline
// and says why it failed); a third one leaves at once.
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts++;
  if (interrupts === 2)
    say('\nCtrl-C again: the catch-up ends; once more to leave now (the pipeline keeps running)');
  if (interrupts >= 3) process.exit(130);
});
const tty = process.stdout.isTTY === true;
const aggTopics = new Set((pipeline.processing?.aggregate ?? []).map((a) => a.topic));
// Latency over the aggregates' records would measure their windows' event time, not a source commit.
const latencyTopics = (l: Record<string, string>) => !aggTopics.has(l.topic ?? '');
const history = [await scrape(state.read(), serviceNames)];
const genHistory = [{ ...gen.stats }];
let lastLine = Date.now();
let drawn = 0;
const genStart = Date.now();
let lastServices = '';
while (interrupts === 0) {
  await sleep(1_000);
  const st = state.read();
  const cur = await scrape(st, serviceNames);
  history.push(cur);
  genHistory.push({ ...gen.stats });
  if (history.length > 6) {
    history.shift();
    genHistory.shift();
  }
  const prev = history.at(-2) ?? cur;
  const services = servicesLine(st);
  const elapsed = (Date.now() - t0) / 1000;
  if (tty) {
    // Rates over the last second, latency over the last ~5 s (more inserts, steadier quantiles).
    const lines = render(
      pipelineRates(prev, cur, history[0] ?? prev, latencyTopics),
      cur,
      gen.stats,
      genHistory.at(-2) ?? gen.stats,
      [services, ...notes],
      elapsed,
    );
    process.stdout.write(
      `${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`,
    );
    drawn = lines.length;
  } else {
    // A service that started, exited or was restarted: said when it happens.
    if (services !== lastServices) say(services);
    if (Date.now() - lastLine >= 5_000) {
      // A line every 5 s: every figure over those 5 s.
      lastLine = Date.now();
      const base = history[0] ?? prev;
      say(
        line(pipelineRates(base, cur, base, latencyTopics), gen.stats, genHistory[0] ?? gen.stats, elapsed),
      );
    }
  }
  lastServices = services;
  if ((Date.now() - genStart) / 1000 >= duration) break;
}
if (tty) {
  process.stdout.write('\n');
} else {
  // The last figures, every line of them, for the record.
  const base = history[0] ?? history.at(-1);
  const last = history.at(-1);
  if (base && last)
    for (const l of render(
      pipelineRates(base, last, base, latencyTopics),
      last,
      gen.stats,
      genHistory[0] ?? gen.stats,
      [servicesLine(state.read()), ...notes],
      (Date.now() - t0) / 1000,
    ))
      say(l);
}

// 5. Catch up: wait while the lag shrinks, within the overall bound.
await gen.stop();
await mongo.close();
say(`\ngenerator stopped: ${JSON.stringify(gen.stats)}`);
const app = pipeline.processing?.applicationId;
const catchUp = await runCatchUp({
  admin,
  capture: await captureReader(client, pgSource.slot).catch((err: Error) => {
    say(`the capture's progress cannot be read (${clip(err.message)}): the catch-up reads Kafka's lags only`);
    return undefined;
  }),
  sinkGroupId: section.sink.groupId,
  processor:
    app && expected.includes('processor')
      ? {
          applicationId: app,
          inputs: [
            ...(pipeline.processing?.enrich ?? []).map((e) => e.from),
            ...(pipeline.processing?.aggregate ?? []).map((a) => a.from),
          ],
        }
      : undefined,
  rule: { stallMs: stallS * 1000, timeoutMs: timeoutS * 1000, settleMs: 3_000 },
  interrupted: () => interrupts >= 2,
  services: () => servicesLine(state.read()),
  say,
});
await client.end().catch(() => undefined);
say(
  catchUp.verdict === 'caught-up'
    ? `pipeline caught up in ${(catchUp.elapsedMs / 1000).toFixed(1)} s (capture, processor and sink)`
    : (catchUpReason(catchUp) ?? ''),
);

// 6. Every service's state and /readyz before the pipeline stops (a service not ready yet gets 10 s).
async function checkServices(): Promise<ServiceCheck[]> {
  const st = state.read();
  return Promise.all(
    expected.map(async (name): Promise<ServiceCheck> => {
      const record = st?.services[name];
      if (!record) return { name, record, running: false };
      if (!(record.pid > 0 && isAlive(record.pid)))
        return { name, record, running: false, lastLogLine: tail(record.log, 1) };
      const p = await probeTelemetry(record.telemetryPort, 2_000);
      return {
        name,
        record,
        running: true,
        readiness: !p.reachable
          ? { ready: false, detail: p.reason }
          : p.ready
            ? { ready: true }
            : { ready: false, detail: p.readyDetail },
      };
    }),
  );
}
let checks = await checkServices();
for (let i = 0; i < 10 && checks.some((c) => c.running && !c.readiness?.ready); i++) {
  await sleep(1_000);
  checks = await checkServices();
}
say(
  `services at the end: ${checks
    .map((c) => {
      const label = c.record ? serviceLabel(c.name, c.record, c.running) : `${c.name} (not started)`;
      const r = c.readiness;
      return !c.running
        ? label
        : r?.ready
          ? `${label} ready`
          : `${label} NOT READY (${clip(r?.detail ?? '')})`;
    })
    .join(', ')}`,
);
say('stopping the pipeline');
await admin.disconnect();
await down(state, say);

// Verify: every source (PostgreSQL tables, and MongoDB collections when the capture is there),
// only against a pipeline that caught up with every service running.
const skipVerify = verifySkipReason(catchUp, checks);
let verified: VerifyOutcome;
if (skipVerify) {
  say(`verify skipped: ${skipVerify}`);
  verified = { ran: false, why: skipVerify };
} else {
  const mongoMissing = skipped.includes('capture-mongo');
  if (mongoMissing) say('verify: the MongoDB source is not verified: capture-mongo is not in this checkout');
  try {
    const report = await verify({
      config,
      timeoutMs: 60_000,
      ...(mongoMissing ? { sources: pipeline.sources.postgres.map((s) => s.name) } : {}),
      log: (l) => say(l),
    });
    process.stdout.write(formatVerifyReport(report));
    verified = verifyOutcome(report);
  } catch (err) {
    say(`verify: FAILED — ${(err as Error).message}`);
    verified = { ran: true, ok: false, failure: clip((err as Error).message) };
  }
}

// Analytics: the processor's aggregates, as the sink upserted them into ClickHouse. A query over
// a service not in this checkout is skipped; one that fails or prints no row fails the demo.
const analytics: AnalyticsResult[] = [];
const reconciled: ReconciledAggregate[] = [];
const queries = analyticsQueries(pipeline, section.database);
const runnable = queries.filter((q) => {
  const absent = q.needs.filter((n) => skipped.includes(n));
  if (absent.length === 0) return true;
  say(`\n${q.title}:\n  skipped: ${absent.join(', ')} not in this checkout`);
  analytics.push({ name: q.name, skipped: `${absent.join(', ')} not in this checkout` });
  return false;
});
const reader = await openReader(section).catch((err: Error) => {
  say(`analytics queries failed: ${err.message}`);
  for (const q of runnable) analytics.push({ name: q.name, error: `no ClickHouse reader: ${err.message}` });
  return undefined;
});
if (reader) {
  for (const q of runnable) {
    say(`\n${q.title}:`);
    const rows = await reader.query(q.sql).catch((err: Error) => {
      say(`  query failed: ${err.message.split('\n')[0]}`);
      analytics.push({ name: q.name, error: err.message });
      return undefined;
    });
    if (rows === undefined) continue;
    if (rows.length === 0) say(`  no rows${q.empty ? `: ${q.empty}` : ''}`);
    else process.stdout.write(formatTable(rows));
    say(`  (${rows.length} row(s) from ${q.table})`);
    analytics.push({ name: q.name, rows: rows.length });
  }
  // Every window of every aggregate against a GROUP BY over the replica that verify proved exact.
  if (verified.ran && verified.ok) {
    say('\nreconciliation (every window of every group against a GROUP BY over the verified replica):');
    const results = await reconcile(reader, pipeline, section.database).catch((err: Error) => {
      say(`  reconciliation failed: ${err.message.split('\n')[0]}`);
      const failed: Reconciliation = {
        aggregate: 'reconciliation',
        countName: '',
        aggregateCount: 0,
        sourceCount: 1,
        compared: 0,
        differing: 1,
        examples: [err.message.split('\n')[0] ?? ''],
      };
      return [failed];
    });
    for (const r of results) {
      const line = reconciliationLine(r);
      say(`  ${line}`);
      reconciled.push({
        aggregate: r.aggregate,
        ok: r.skipped !== undefined || (r.differing === 0 && r.aggregateCount === r.sourceCount),
        ...(r.skipped ? { skipped: true } : {}),
        line,
      });
    }
  }
  await reader.close().catch(() => undefined);
}

// 7. The verdict: every reason the demo failed, or what passed.
const facts = { sinceMs: upAt, services: checks, skipped, catchUp, verify: verified, analytics, reconciled };
const result = outcome(facts);
say(`\n${finalLine(facts, result, Date.now() - t0)}`);
process.exit(result.ok ? 0 : 1);

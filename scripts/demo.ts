/**
 * `npm run demo [-- --duration N] [--rate R] [--scale S]`: the whole pipeline on the local stack.
 *
 * 1. the local stack up; the services built;
 * 2. the demo shop, fresh: PostgreSQL `customers`, `products`, `orders`, `order_items`
 *    (~300k rows at scale 1) and MongoDB `carts`, `clicks` (scripts/demo/shop.ts);
 * 3. `cdc up --config infra/pipelines/demo.yaml` (services not in this checkout are named and skipped);
 * 4. the change generator at R transactions/s and a live view until N seconds passed (or Ctrl-C);
 * 5. the generator stops, the processor and the sink catch up (at most `--timeout` s, default
 *    120), `cdc down`, `cdc verify`, the three analytics queries over the processor's aggregates
 *    (scripts/demo/analytics.ts); the exit status is verify's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    rate: { type: 'string', default: '50' },
    scale: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '120' },
  },
});
const duration = values.duration === undefined ? Number.POSITIVE_INFINITY : Number(values.duration);
const rate = Number(values.rate);
const scale = Number(values.scale);
const config = resolve(root, 'infra/pipelines/demo.yaml');
const say = (s: string) => process.stdout.write(`${s}\n`);
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
  ...['capture-postgres', 'capture-mongo', 'processor', 'sink-clickhouse']
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
const { localEndpoints } = await import('../infra/local/src/endpoints.ts');
const { down, StateDir, up } = await import('../services/cli/src/supervisor.ts');
const { availability } = await import('../services/cli/src/services.ts');
const { verify, formatVerifyReport } = await import('../services/cli/src/verify/verify.ts');
const { openReader } = await import('../services/cli/src/clickhouse-target.ts');
const { formatTable } = await import('../services/cli/src/table-format.ts');
const { drained, groupLag } = await import('../services/cli/src/kafka-progress.ts');
const { pipelineRates } = await import('../services/cli/src/pipeline-rates.ts');
const { servicesOf } = await import('../services/cli/src/services.ts');
const { analyticsQueries } = await import('./demo/analytics.ts');
const { createShop, resetShop, shopClient } = await import('./demo/shop.ts');
const { ChangeGenerator } = await import('./demo/generator.ts');
const { line, render, scrape } = await import('./demo/live-view.ts');
const { MongoClient } = await import('mongodb');

const pipeline = loadPipeline(config);
const pgSource = pipeline.sources.postgres[0]!;
const db = pgSource.connection.database;
const ep = localEndpoints();
const section = pipeline.clickhouse!;
const state = new StateDir(resolve(root, '.stack/pipeline-demo'));
const notes: string[] = [];
const missing = (['capture-mongo', 'processor'] as const).filter((s) => !availability(s).available);
for (const m of missing) {
  const a = availability(m);
  notes.push(`${m} is not running: ${a.available ? '' : a.reason}; its part of the demo is skipped`);
}

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
let t = Date.now();
await resetShop(shopOpts);
const counts = await createShop(shopOpts);
say(
  `demo shop created in ${((Date.now() - t) / 1000).toFixed(1)} s: ${Object.entries(counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);

// 3. The pipeline.
const started = await up(
  config,
  state,
  say,
  { ...process.env },
  {
    beforeConsumers: async () => {
      // The processor resolves its topics when it starts (the sink also picks up later ones): wait for the captures' topics.
      const want = [
        ...['customers', 'products', 'orders', 'order_items'].map(
          (x) => `${pgSource.topicPrefix ?? pgSource.name}.${db}.public.${x}`,
        ),
        ...(missing.includes('capture-mongo' as never)
          ? []
          : ['carts', 'clicks'].map((x) => `demodocs.${db}.${x}`)),
      ];
      const until = Date.now() + 120_000;
      while (Date.now() < until) {
        const have = new Set(await admin.listTopics());
        if (want.every((x) => have.has(x))) return;
        await sleep(500);
      }
      say(`not every capture topic appeared within 120 s: ${want.join(', ')}`);
    },
  },
);
for (const f of started.failed) notes.push(`${f.name} exited at start (log: ${state.logFile(f.name)})`);

// 4. The generator and the live view.
const client = shopClient(shopOpts);
await client.connect();
const mongo = new MongoClient(ep.mongo.url);
await mongo.connect();
const gen = new ChangeGenerator(client, mongo.db(db), rate, counts.products ?? 10, counts.carts ?? 50);
gen.start();
let stop = false;
process.once('SIGINT', () => {
  stop = true;
});
const tty = process.stdout.isTTY === true;
const serviceNames = servicesOf(pipeline);
const aggTopics = new Set((pipeline.processing?.aggregate ?? []).map((a) => a.topic));
// Latency over the aggregates' records would measure their windows' event time, not a source commit.
const latencyTopics = (l: Record<string, string>) => !aggTopics.has(l.topic ?? '');
const history = [await scrape(state.read(), serviceNames)];
const genHistory = [{ ...gen.stats }];
let lastLine = Date.now();
let drawn = 0;
const genStart = Date.now();
while (!stop) {
  await sleep(1_000);
  const cur = await scrape(state.read(), serviceNames);
  history.push(cur);
  genHistory.push({ ...gen.stats });
  if (history.length > 6) {
    history.shift();
    genHistory.shift();
  }
  const prev = history.at(-2) ?? cur;
  const alive = Object.entries(state.read()?.services ?? {}).map(
    ([n, s]) => `${n}${s && isAliveSafe(s.pid) ? '' : ' (exited)'}`,
  );
  const elapsed = (Date.now() - t0) / 1000;
  if (tty) {
    // Rates over the last second, latency over the last ~5 s (more inserts, steadier quantiles).
    const lines = render(
      pipelineRates(prev, cur, history[0] ?? prev, latencyTopics),
      cur,
      gen.stats,
      genHistory.at(-2) ?? gen.stats,
      [`services: ${alive.join(', ')}`, ...notes],
      elapsed,
    );
    process.stdout.write(
      `${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`,
    );
    drawn = lines.length;
  } else if (Date.now() - lastLine >= 5_000) {
    // A line every 5 s: every figure over those 5 s.
    lastLine = Date.now();
    const base = history[0] ?? prev;
    say(line(pipelineRates(base, cur, base, latencyTopics), gen.stats, genHistory[0] ?? gen.stats, elapsed));
  }
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
      notes,
      (Date.now() - t0) / 1000,
    ))
      say(l);
}

// 5. Catch up, stop, verify, analytics.
await gen.stop();
await client.end();
await mongo.close();
say(`\ngenerator stopped: ${JSON.stringify(gen.stats)}`);
t = Date.now();
const deadline = Date.now() + Number(values.timeout) * 1000;
let caughtUp = true;
for (;;) {
  const all = await admin.listTopics();
  const topics = all.filter((x) => /^demo(docs)?\./.test(x));
  const app = pipeline.processing?.applicationId;
  // The processor's inputs (its streams and repartition topics; the joined tables are read whole, ungrouped).
  const processorTopics = app
    ? all.filter(
        (x) =>
          (x.startsWith(`${app}-`) && x.endsWith('-repartition')) ||
          [
            ...(pipeline.processing?.enrich ?? []).map((e) => e.from),
            ...(pipeline.processing?.aggregate ?? []).map((a) => a.from),
          ].includes(x),
      )
    : [];
  const lags = [
    ...(await groupLag(admin, section.sink.groupId, topics)),
    ...(app && !missing.includes('processor' as never) ? await groupLag(admin, app, processorTopics) : []),
  ];
  if (drained(lags) && Date.now() - t > 3_000) break;
  if (Date.now() > deadline) {
    const behind = lags.filter((l) => l.lag > 1n).map((l) => `${l.topic}[${l.partition}] ${l.lag}`);
    say(
      `the pipeline did not catch up within ${values.timeout} s (behind: ${behind.join(', ')}); verifying anyway, the aggregates are partial`,
    );
    caughtUp = false;
    break;
  }
  await sleep(1_000);
}
say(
  `${caughtUp ? 'pipeline caught up' : 'waited'} in ${((Date.now() - t) / 1000).toFixed(1)} s (processor and sink); stopping it`,
);
await admin.disconnect();
await down(state, say);
// Every source: PostgreSQL tables and MongoDB collections (those only when the capture is there).
const mongoMissing = missing.includes('capture-mongo' as never);
if (mongoMissing) say('verify: the MongoDB source is not verified: capture-mongo is not in this checkout');
const report = await verify({
  config,
  timeoutMs: 60_000,
  ...(mongoMissing ? { sources: pipeline.sources.postgres.map((s) => s.name) } : {}),
  log: (l) => say(l),
});
process.stdout.write(formatVerifyReport(report));

// Analytics: the processor's aggregates, as the sink upserted them into ClickHouse.
try {
  const reader = await openReader(section);
  for (const q of analyticsQueries(pipeline, section.database)) {
    say(`\n${q.title}:`);
    const rows = await reader.query(q.sql).catch((err: Error) => {
      say(`  query failed: ${err.message.split('\n')[0]}`);
      return undefined;
    });
    if (rows === undefined) continue;
    if (rows.length === 0) say(`  no rows${q.empty ? `: ${q.empty}` : ''}`);
    else process.stdout.write(formatTable(rows));
    say(`  (${rows.length} row(s) from ${q.table})`);
  }
  await reader.close();
} catch (err) {
  say(`analytics queries failed: ${(err as Error).message}`);
}
say(`\ndemo done in ${((Date.now() - t0) / 1000).toFixed(0)} s; verify ${report.ok ? 'passed' : 'FAILED'}`);
process.exit(report.ok ? 0 : 1);

function isAliveSafe(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * What the cross-service scenarios share: the demo pipeline file under a database name of the
 * scenario's own, its four services as child processes (telemetry on an ephemeral port each,
 * read from their logs), `/readyz` probes, busy-loop processes that load the CPUs, and a reset
 * that leaves the broker with none of the pipeline's topics or groups.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { openReader } from '@cdc/clickhouse';
import { createJsonLogger } from '@cdc/core';
import { createKafka, deleteTopicsIfExist } from '@cdc/kafka';
import { drained, type PartitionLag } from '@cdc/operate';
import { loadPipeline, type Pipeline } from '@cdc/pipeline';
import { pgSuperuser, readTopic } from '@cdc/testkit';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { captureReader, readPipelineLags } from '../../../../scripts/demo/catch-up.ts';
import { captureBehind } from '../../../../scripts/demo/outcome.ts';
import { createShop, resetShop, type ShopOptions } from '../../../../scripts/demo/shop.ts';

export const ROOT = resolve(import.meta.dirname, '../../../..');
export const SERVICES = ['capture-postgres', 'capture-mongo', 'processor', 'sink-clickhouse'] as const;
export type Service = (typeof SERVICES)[number];

export interface Scenario {
  db: string;
  env: NodeJS.ProcessEnv;
  pipeline: Pipeline;
  shop: ShopOptions;
}

/** The demo pipeline (infra/pipelines/demo.yaml) on database `db`, its read endpoint on `httpPort`. */
export function scenario(db: string, httpPort: number): Scenario {
  const ep = localEndpoints();
  const env = {
    ...process.env,
    CDC_DEMO_DB: db,
    CDC_DEMO_CLICKHOUSE_HTTP_PORT: String(httpPort),
    CDC_LOG_LEVEL: 'info',
  };
  return {
    db,
    env,
    pipeline: loadPipeline(resolve(ROOT, 'infra/pipelines/demo.yaml'), env),
    shop: {
      pgPort: ep.postgres.port,
      stackDir: ep.stackDir,
      database: db,
      mongoUrl: ep.mongo.url,
      scale: 0.01,
    },
  };
}

/** A fresh demo shop in PostgreSQL and MongoDB (~3k rows at scale 0.01). */
export async function freshShop(s: Scenario): Promise<Record<string, number>> {
  await resetShop(s.shop);
  return createShop(s.shop);
}

/**
 * Leaves the broker with none of the pipeline's topics and groups, and the services with no
 * local state: the next start is a first start (services must be stopped).
 */
export async function wipePipeline(s: Scenario): Promise<void> {
  const { pipeline, db } = s;
  const kafka = createKafka(pipeline.kafka, createJsonLogger({ level: 'error' }));
  const admin = kafka.admin();
  await admin.connect();
  try {
    const app = pipeline.processing?.applicationId ?? '\u0000';
    const topics = (await admin.listTopics()).filter(
      (t) => /^demo(docs)?\./.test(t) || t.startsWith(db) || t.startsWith(app),
    );
    await deleteTopicsIfExist(admin, topics);
    const groups = [pipeline.clickhouse?.sink.groupId ?? '', app];
    await admin.deleteGroups(groups.filter(Boolean)).catch(() => undefined);
    // Deletion is asynchronous: wait until the broker no longer lists them.
    for (let i = 0; i < 100; i++) {
      const left = (await admin.listTopics()).filter((t) => topics.includes(t));
      if (left.length === 0) break;
      await sleep(200);
    }
  } finally {
    await admin.disconnect();
  }
  const slot = pipeline.sources.postgres[0]?.slot;
  const su = pgSuperuser('postgres');
  await su.connect();
  try {
    await su.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
      [slot],
    );
  } finally {
    await su.end();
  }
  if (pipeline.processing)
    rmSync(resolve(ROOT, pipeline.processing.stateDir), { recursive: true, force: true });
  const ch = pipeline.clickhouse;
  if (ch && 'embedded' in ch) rmSync(resolve(ROOT, ch.embedded.path), { recursive: true, force: true });
}

/** One service as a child process of the test, its output kept for assertions. */
export class ServiceProcess {
  readonly name: Service;
  readonly child: ChildProcess;
  output = '';
  private port: number | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(name: Service, env: NodeJS.ProcessEnv) {
    this.name = name;
    this.child = spawn(
      process.execPath,
      [
        resolve(ROOT, 'services', name, 'dist/main.js'),
        '--config',
        resolve(ROOT, 'infra/pipelines/demo.yaml'),
      ],
      { cwd: ROOT, env: { ...env, CDC__TELEMETRY__HTTP__PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (b: Buffer) => {
      this.output += b.toString('utf8');
      if (this.output.length > 4_000_000) this.output = this.output.slice(-2_000_000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((r) => this.child.once('exit', (code, signal) => r({ code, signal })));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The telemetry listener's port, from the service's log line `serving /metrics …`. */
  get telemetryPort(): number | undefined {
    if (this.port === undefined) {
      const m = /"msg":"serving \/metrics \/healthz \/readyz"[^\n]*"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(
        this.output,
      );
      if (m) this.port = Number(m[1]);
    }
    return this.port;
  }

  /** `/readyz`: ready or not, with the body (the checks and their details). */
  async readyz(): Promise<{ ready: boolean; body: string }> {
    const port = this.telemetryPort;
    if (port === undefined) return { ready: false, body: 'no telemetry listener yet' };
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3_000) });
      return { ready: res.status === 200, body: await res.text() };
    } catch (err) {
      return { ready: false, body: String(err) };
    }
  }

  /** The causes of the in-process restarts, from the service's log: `CODE (BROKER_ERROR)` each. */
  get restartCauses(): string[] {
    const out: string[] = [];
    for (const line of this.output.split('\n')) {
      if (!line.includes('failed; starting it again from what Kafka committed')) continue;
      const code = /"code":"([A-Z_]+)"/.exec(line)?.[1] ?? /"name":"(\w+)"/.exec(line)?.[1] ?? '?';
      const broker = /"(?:brokerError|type)":"([A-Z_]+)"/.exec(line)?.[1];
      out.push(broker ? `${code} (${broker})` : code);
    }
    return out;
  }

  /** SIGTERM, SIGKILL after `graceMs`; the exit. */
  async stop(graceMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last lines of its output (for failure messages). */
  tail(lines = 15): string {
    return this.output.trimEnd().split('\n').slice(-lines).join('\n');
  }
}

/** Two processes spinning on the CPUs, as on a user's busy machine; returns their stop. */
export function busyLoops(count = 2): () => void {
  const loops = Array.from({ length: count }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  return () => {
    for (const l of loops) l.kill('SIGKILL');
  };
}

/** The demo shop's PostgreSQL tables. */
export const SHOP_TABLES = ['customers', 'products', 'orders', 'order_items'] as const;

/**
 * Each change once, per PostgreSQL table: its topic holds no change id twice, and the table's
 * history in ClickHouse holds exactly the changes of the topic (none missing, none twice, also
 * under FINAL). Returns per table `[changes in the topic, changes in the history, history rows]`
 * and the problems found (empty when exact). The sink must be stopped or caught up.
 */
export async function historyExactlyOnce(
  s: Scenario,
): Promise<{ counts: Record<string, number[]>; problems: string[] }> {
  const kafka = createKafka(s.pipeline.kafka, createJsonLogger({ level: 'error' }));
  const serde = new AvroSerde({ registry: new RegistryClient({ url: s.pipeline.registry.url }) });
  const reader = await openReader(s.pipeline.clickhouse!);
  const counts: Record<string, number[]> = {};
  const problems: string[] = [];
  try {
    for (const t of SHOP_TABLES) {
      const topic = `demo.${s.db}.public.${t}`;
      const records = (await readTopic(kafka, topic, 60_000)).filter((r) => r.value !== null);
      const ids = await Promise.all(
        records.map(async (r) => ((await serde.deserialize(r.value)) as { changeId: string }).changeId),
      );
      const distinct = new Set(ids).size;
      if (distinct !== ids.length)
        problems.push(`${topic}: ${ids.length - distinct} change(s) written twice`);
      const table = `demo_${s.db}_public_${t}_history`;
      const [h] = await reader.query<{ rows: string; changes: string }>(
        `SELECT count() AS rows, uniqExact(_change_id) AS changes FROM demo.${table} FINAL`,
      );
      counts[t] = [distinct, Number(h?.changes ?? 0), Number(h?.rows ?? 0)];
      if (Number(h?.changes) !== distinct)
        problems.push(`${table}: ${h?.changes} changes, the topic has ${distinct}`);
      if (Number(h?.rows) !== Number(h?.changes))
        problems.push(`${table}: ${h?.rows} rows for ${h?.changes} changes`);
    }
    // A change the sink dead-lettered is missing from the history: name the reason.
    const dlq = s.pipeline.clickhouse!.sink.deadLetterTopic;
    const letters = await readTopic(kafka, dlq, 30_000).catch(() => []);
    for (const r of letters.slice(0, 5)) {
      const h = r.headers ?? {};
      problems.push(
        `${dlq}: ${h['cdc.dlq.table']} offset ${h['cdc.dlq.offset']} dead-lettered: ${h['cdc.dlq.reason']}`,
      );
    }
  } finally {
    await reader.close();
  }
  return { counts, problems };
}

/**
 * Waits until the capture has read the source up to its position of now, the sink's group every
 * demo topic and the processor's group every input (the demo's own catch-up reading); throws
 * after `boundMs` with what is behind. The capture first: a scenario that stopped the services
 * once Kafka's lags were drained left the source's last transactions out of Kafka (verify then
 * found them missing).
 */
export async function waitCaughtUp(s: Scenario, boundMs: number): Promise<number> {
  const t0 = Date.now();
  const slot = s.pipeline.sources.postgres[0]?.slot;
  const su = pgSuperuser('postgres');
  await su.connect();
  const kafka = createKafka(s.pipeline.kafka, createJsonLogger({ level: 'error' }));
  const admin = kafka.admin();
  const app = s.pipeline.processing?.applicationId ?? '';
  const inputs = [
    ...(s.pipeline.processing?.enrich ?? []).map((e) => e.from),
    ...(s.pipeline.processing?.aggregate ?? []).map((a) => a.from),
  ];
  let all: PartitionLag[] = [];
  let lastError = '';
  try {
    const capture = slot === undefined ? undefined : await captureReader(su, slot);
    await admin.connect();
    for (;;) {
      const captured = await capture?.();
      // A retriable broker error (a partition without its leader for a moment on a busy
      // machine) is read again a second later, as the demo's catch-up does.
      const lags = await readPipelineLags({
        admin,
        sinkGroupId: s.pipeline.clickhouse!.sink.groupId,
        processor: { applicationId: app, inputs },
      }).catch((err: Error) => {
        lastError = err.message;
        return undefined;
      });
      if (lags) {
        all = [...lags.sink, ...lags.processor];
        if ((captured === undefined || captured.done) && drained(all)) return Date.now() - t0;
      }
      if (Date.now() - t0 > boundMs) {
        const behind = all.filter((l) => l.lag > 1n).map((l) => `${l.topic}[${l.partition}] ${l.lag}`);
        if (captured !== undefined && !captured.done) behind.unshift(captureBehind(captured));
        throw new Error(
          `not caught up within ${boundMs / 1000} s: ${behind.join(', ')}${lags ? '' : ` (the last reading failed: ${lastError})`}`,
        );
      }
      await sleep(1_000);
    }
  } finally {
    await admin.disconnect();
    await su.end();
  }
}

/**
 * The common start of a scenario on the demo pipeline: the variables the pipeline file reads
 * (so that `verify` and the CLI helpers load the same file), a fresh shop, a broker and local
 * state with none of the pipeline's topics, groups or data.
 */
export async function prepareScenario(s: Scenario): Promise<void> {
  process.env.CDC_DEMO_DB = s.db;
  process.env.CDC_DEMO_CLICKHOUSE_HTTP_PORT = s.env.CDC_DEMO_CLICKHOUSE_HTTP_PORT;
  await freshShop(s);
  await wipePipeline(s);
}

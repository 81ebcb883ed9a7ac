/**
 * `cdc status`: for each service `up` started, whether its process lives, its health from the
 * telemetry listener (`/readyz`, `/metrics`) when it serves one, and what Kafka says: the
 * capture's last committed source position and the sink's consumer lag. What cannot be known
 * is printed as such, never guessed.
 */
import { createJsonLogger } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { loadPipeline, type Pipeline } from '@cdc/pipeline';
import { drained, groupLag, type PartitionLag, readPositions } from './kafka-progress.ts';
import { byLabel, sumOf } from './prometheus-text.ts';
import { type ServiceName, servicesOf } from './services.ts';
import { isAlive, readPid, type StateDir } from './supervisor.ts';
import { probeTelemetry } from './telemetry-probe.ts';
import { sinkTopics } from './topics.ts';

export interface ServiceStatus {
  name: ServiceName;
  pid: number | null;
  alive: boolean;
  uptimeS: number | null;
  health: string;
  /** Per table: rows done / estimated, from the capture's metrics. */
  snapshot: Record<string, { done: number; estimated: number | null }> | null;
  consumerLag: number | null;
  position: string | null;
}

export interface PipelineStatus {
  config: string;
  services: ServiceStatus[];
  sinkLag: { group: string; total: string; drained: boolean; partitions: number } | null;
  positions: Record<string, unknown>;
  problems: string[];
}

export async function gatherStatus(
  state: StateDir,
  configOverride?: string,
): Promise<PipelineStatus | undefined> {
  const st = state.read();
  const config = configOverride ?? st?.config;
  if (!config) return undefined;
  const pipeline = loadPipeline(config);
  const problems: string[] = [];
  const services: ServiceStatus[] = [];
  for (const name of servicesOf(pipeline)) {
    const s = st?.services[name];
    const pid = readPid(state.pidFile(name)) ?? null;
    const alive = pid !== null && isAlive(pid);
    const row: ServiceStatus = {
      name,
      pid,
      alive,
      uptimeS: alive && s ? Math.round((Date.now() - Date.parse(s.startedAt)) / 1000) : null,
      health: alive ? 'running' : s ? 'stopped' : 'not started',
      snapshot: null,
      consumerLag: null,
      position: null,
    };
    if (alive && s) {
      const p = await probeTelemetry(s.telemetryPort);
      if (p.reachable) {
        row.health = p.ready ? 'ready' : `not ready${p.readyDetail ? ` (${p.readyDetail})` : ''}`;
        const done = byLabel(p.samples, 'cdc_snapshot_rows_done', 'table');
        const est = byLabel(p.samples, 'cdc_snapshot_rows_estimated', 'table');
        if (done.size > 0)
          row.snapshot = Object.fromEntries(
            [...done].map(([t, d]) => [t, { done: d, estimated: est.get(t) ?? null }]),
          );
        const lag = sumOf(p.samples, 'cdc_consumer_lag');
        if (lag !== undefined) row.consumerLag = lag;
      } else {
        row.health = 'running (no telemetry endpoint)';
      }
    }
    services.push(row);
  }
  const logger = createJsonLogger({ level: 'error' });
  const kafka = createKafka(pipeline.kafka, logger);
  const admin = kafka.admin();
  let sinkLag: PipelineStatus['sinkLag'] = null;
  let positions: Record<string, unknown> = {};
  try {
    await admin.connect();
    positions = await capturePositions(kafka, admin, pipeline);
    for (const row of services) {
      if (row.name === 'capture-postgres')
        row.position = pipeline.sources.postgres
          .map((s) => `${s.name}: ${describePosition(positions[`postgres/${s.name}`])}`)
          .join(', ');
      if (row.name === 'capture-mongo')
        row.position = pipeline.sources.mongo
          .map((s) => `${s.name}: ${describePosition(positions[`mongo/${s.name}`])}`)
          .join(', ');
    }
    if (pipeline.clickhouse) {
      const group = pipeline.clickhouse.sink.groupId;
      const lags: PartitionLag[] = await groupLag(admin, group, await sinkTopics(admin, pipeline));
      const total = lags.reduce((a, l) => a + l.lag, 0n);
      sinkLag = { group, total: String(total), drained: drained(lags), partitions: lags.length };
      const sink = services.find((s) => s.name === 'sink-clickhouse');
      if (sink && sink.consumerLag === null) sink.consumerLag = Number(total);
    }
  } catch (err) {
    problems.push(`Kafka: ${(err as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  return { config, services, sinkLag, positions, problems };
}

async function capturePositions(
  kafka: ReturnType<typeof createKafka>,
  admin: Parameters<typeof readPositions>[1],
  pipeline: Pipeline,
): Promise<Record<string, unknown>> {
  const topics = new Set([...pipeline.sources.postgres.map((s) => s.offsetsTopic), 'cdc.offsets']);
  const out: Record<string, unknown> = {};
  for (const t of topics) for (const [k, v] of await readPositions(kafka, admin, t, 10_000)) out[k] = v;
  return out;
}

/** A stored position in one line: PostgreSQL `lsn 0/1A2B3C (snapshot done)`, others as JSON. */
export function describePosition(p: unknown): string {
  if (p === undefined || p === null) return 'none committed yet';
  const o = p as Record<string, unknown>;
  if (o.kind === 'postgres') {
    const snap = o.snapshot ? 'snapshot done' : 'no snapshot stored';
    return `commit lsn ${String(o.commitLsn)}${o.complete === false ? ` (chunk ${String(o.index)})` : ''}, ${snap}`;
  }
  const s = JSON.stringify(p);
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
}

export function formatStatus(s: PipelineStatus): string {
  const lines = [`pipeline ${s.config}`];
  const w = Math.max(...s.services.map((x) => x.name.length), 7);
  for (const x of s.services) {
    lines.push(
      `${x.name.padEnd(w)}  ${(x.alive ? `pid ${x.pid}` : '-').padEnd(11)} ${x.uptimeS === null ? '' : `up ${x.uptimeS}s  `}${x.health}`,
    );
    if (x.position) lines.push(`${''.padEnd(w)}  source position: ${x.position}`);
    if (x.consumerLag !== null) lines.push(`${''.padEnd(w)}  consumer lag: ${x.consumerLag}`);
    if (x.snapshot)
      for (const [t, v] of Object.entries(x.snapshot))
        lines.push(
          `${''.padEnd(w)}  snapshot ${t}: ${v.done}${v.estimated ? ` / ~${v.estimated} (${Math.min(100, Math.round((100 * v.done) / Math.max(1, v.estimated)))}%)` : ''}`,
        );
    else if (x.name.startsWith('capture') && x.alive)
      lines.push(`${''.padEnd(w)}  snapshot progress: not exported by this service`);
  }
  if (s.sinkLag)
    lines.push(
      `sink group ${s.sinkLag.group}: lag ${s.sinkLag.total} over ${s.sinkLag.partitions} partition(s)${s.sinkLag.drained ? ' (caught up)' : ''}`,
    );
  for (const p of s.problems) lines.push(`problem: ${p}`);
  return `${lines.join('\n')}\n`;
}

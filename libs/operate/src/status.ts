/**
 * `cdc status`: for each service `up` started, whether its process lives, how often the
 * supervisor restarted it and why it last exited (a crash loop counts as failing), its health
 * from the telemetry listener (`/readyz`, `/metrics`) when it serves one, and what Kafka says: the
 * capture's last committed source position and the sink's consumer lag. What cannot be known
 * is printed as such, never guessed.
 */
import { createJsonLogger } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { loadPipeline, type Pipeline } from '@cdc/pipeline';
import { drained, groupLag, type PartitionLag, readPositions } from './kafka-progress.ts';
import { isAlive, isSupervisorAlive } from './process-control.ts';
import { byLabel, sumOf } from './prometheus-text.ts';
import { formatQuality, qualitySummary, type TableQuality } from './quality-summary.ts';
import { DEFAULT_RESTART_POLICY, isCrashLoop, recentExits } from './restart-policy.ts';
import { type ServiceName, servicesOf } from './services.ts';
import { readPid, type ServiceExit, type ServiceState, type StateDir } from './state-dir.ts';
import { probeTelemetry } from './telemetry-probe.ts';
import { sinkTopics } from './topics.ts';

export interface ServiceStatus {
  name: ServiceName;
  pid: number | null;
  alive: boolean;
  uptimeS: number | null;
  health: string;
  /** How many times the supervisor restarted it. */
  restarts: number;
  /** Its last exit nobody asked for, with the last error line it logged. */
  lastExit: ServiceExit | null;
  /** 5 or more such exits within 5 minutes: failing, whether or not it runs right now. */
  crashLoop: boolean;
  /** Per table: rows done / estimated, from the capture's metrics. */
  snapshot: Record<
    string,
    { done: number; estimated: number | null; rowsPerSecond?: number; etaSeconds?: number }
  > | null;
  consumerLag: number | null;
  position: string | null;
  /** What needs an operator although the service runs (a table stopped, dead letters), by subject. */
  attention: Record<string, string>;
  /** Per table with transforms: rows passed, filtered, quarantined and broken rules (captures). */
  quality?: Record<string, TableQuality>;
}

export interface PipelineStatus {
  config: string;
  /** The `cdc supervise` process that restarts the services. */
  supervisor: { pid: number | null; alive: boolean };
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
  const supervisorPid = st?.supervisorPid ?? null;
  const supervisor = { pid: supervisorPid, alive: isSupervisorAlive(supervisorPid ?? undefined) };
  for (const name of servicesOf(pipeline)) {
    const s = st?.services[name];
    const pid = readPid(state.pidFile(name)) ?? null;
    const alive = pid !== null && isAlive(pid);
    const history = exitHistory(s, Date.now());
    const row: ServiceStatus = {
      name,
      pid,
      alive,
      uptimeS: alive && s ? Math.round((Date.now() - Date.parse(s.startedAt)) / 1000) : null,
      health: alive
        ? 'running'
        : s
          ? supervisor.alive
            ? 'waiting to be restarted'
            : 'stopped'
          : 'not started',
      restarts: history.restarts,
      lastExit: history.lastExit,
      crashLoop: history.crashLoop,
      snapshot: null,
      consumerLag: null,
      position: null,
      attention: {},
    };
    if (alive && s) {
      const p = await probeTelemetry(s.telemetryPort);
      if (p.reachable) {
        row.health = p.ready ? 'ready' : `not ready${p.readyDetail ? ` (${p.readyDetail})` : ''}`;
        row.attention = p.attention;
        const done = byLabel(p.samples, 'cdc_snapshot_rows_done', 'table');
        const est = byLabel(p.samples, 'cdc_snapshot_rows_estimated', 'table');
        const rate = byLabel(p.samples, 'cdc_snapshot_rows_per_second', 'table');
        const eta = byLabel(p.samples, 'cdc_snapshot_eta_seconds', 'table');
        if (done.size > 0)
          row.snapshot = Object.fromEntries(
            [...done].map(([t, d]) => [
              t,
              {
                done: d,
                estimated: est.get(t) ?? null,
                ...(rate.has(t) ? { rowsPerSecond: rate.get(t) } : {}),
                ...(eta.has(t) ? { etaSeconds: eta.get(t) } : {}),
              },
            ]),
          );
        const lag = sumOf(p.samples, 'cdc_consumer_lag');
        if (lag !== undefined) row.consumerLag = lag;
        const quality = qualitySummary(p.samples);
        if (Object.keys(quality).length > 0) row.quality = quality;
      } else {
        row.health = 'running (no telemetry endpoint)';
      }
    }
    if (history.crashLoopHealth) row.health = history.crashLoopHealth;
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
  if (!supervisor.alive && services.some((x) => x.alive))
    problems.push(
      'the supervisor is not running: a service that exits is not restarted (`cdc up` starts it again)',
    );
  return { config, supervisor, services, sinkLag, positions, problems };
}

/**
 * Whether `cdc status` exits 0: every service runs, none crash-loops, none has a table stopped or
 * dead letters to look at, nothing else is wrong.
 */
export function statusOk(s: PipelineStatus): boolean {
  return (
    s.services.every((x) => x.alive && !x.crashLoop && Object.keys(x.attention ?? {}).length === 0) &&
    s.problems.length === 0
  );
}

/**
 * What the supervisor recorded of a service, as `status` shows it: a crash loop is judged as of
 * `now` (exits age out of the window); state.json from before the supervisor has none of it.
 */
export function exitHistory(
  s: Partial<ServiceState> | undefined,
  now: number,
): Pick<ServiceStatus, 'restarts' | 'lastExit' | 'crashLoop'> & { crashLoopHealth: string | null } {
  const exits = s?.exits ?? [];
  const p = DEFAULT_RESTART_POLICY;
  const crashLoop = exits.length > 0 ? isCrashLoop(exits, now, p) : s?.crashLoop === true;
  return {
    restarts: s?.restarts ?? 0,
    lastExit: exits.at(-1) ?? null,
    crashLoop,
    crashLoopHealth: crashLoop
      ? `crash loop: ${recentExits(exits, now, p)} exits in ${p.crashLoopWindowMs / 60_000} min`
      : null,
  };
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
    const chunked = (o.snapshot as { chunked?: unknown[] } | null | undefined)?.chunked ?? [];
    const current = o.incremental as
      | { table?: string; initial?: boolean; rowsDone?: number }
      | null
      | undefined;
    const snap = !o.snapshot
      ? 'no snapshot stored'
      : chunked.length > 0
        ? `snapshot in chunks: ${chunked.length} table(s) left${current?.initial ? ` (${current.table}: ${current.rowsDone ?? 0} rows committed)` : ''}`
        : 'snapshot done';
    return `commit lsn ${String(o.commitLsn)}${o.complete === false ? ` (chunk ${String(o.index)})` : ''}, ${snap}`;
  }
  const s = JSON.stringify(p);
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
}

export function formatStatus(s: PipelineStatus): string {
  const lines = [`pipeline ${s.config}`];
  lines.push(
    s.supervisor.alive
      ? `supervisor pid ${s.supervisor.pid} (restarts a service that exits)`
      : `supervisor not running${s.supervisor.pid === null ? '' : ` (was pid ${s.supervisor.pid})`}`,
  );
  const w = Math.max(...s.services.map((x) => x.name.length), 7);
  for (const x of s.services) {
    lines.push(
      `${x.name.padEnd(w)}  ${(x.alive ? `pid ${x.pid}` : '-').padEnd(11)} ${x.uptimeS === null ? '' : `up ${x.uptimeS}s  `}${x.health}`,
    );
    if (x.restarts > 0 || x.lastExit) lines.push(`${''.padEnd(w)}  ${describeExits(x)}`);
    if (x.position) lines.push(`${''.padEnd(w)}  source position: ${x.position}`);
    if (x.consumerLag !== null) lines.push(`${''.padEnd(w)}  consumer lag: ${x.consumerLag}`);
    for (const [subject, message] of Object.entries(x.attention ?? {}).sort())
      lines.push(`${''.padEnd(w)}  attention: ${subject}: ${message}`);
    for (const q of formatQuality(x.quality ?? {})) lines.push(`${''.padEnd(w)}  transforms ${q}`);
    if (x.snapshot)
      for (const [t, v] of Object.entries(x.snapshot))
        lines.push(
          `${''.padEnd(w)}  snapshot ${t}: ${v.done}${v.estimated ? ` / ~${v.estimated} (${Math.min(100, Math.round((100 * v.done) / Math.max(1, v.estimated)))}%)` : ''}${v.rowsPerSecond !== undefined ? `, ${v.rowsPerSecond} rows/s` : ''}${v.etaSeconds ? `, ETA ${formatEta(v.etaSeconds)}` : ''}`,
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

/** `restarts 3, last exit code 1 at 12:00:01: <last error line>`. */
export function describeExits(x: Pick<ServiceStatus, 'restarts' | 'lastExit'>): string {
  const parts = [`restarts ${x.restarts}`];
  const e = x.lastExit;
  if (e) {
    const how = e.signal ? `signal ${e.signal}` : `code ${e.code}`;
    parts.push(`last exit ${how} at ${e.at}${e.lastError ? `: ${e.lastError}` : ''}`);
  }
  return parts.join(', ');
}

/** Seconds as `1h02m`, `3m05s` or `42s`. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

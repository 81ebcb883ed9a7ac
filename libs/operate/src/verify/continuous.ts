/**
 * `cdc verify --continuous`: verifies every table again and again in the background, reading the
 * source at most `rowsPerSecond` rows per second (first-level range sums; the source is not
 * hurt), and publishes each table's outcome as metrics on a 127.0.0.1 `/metrics` listener
 * (`cdc_verify_*`, see `@cdc/telemetry`'s catalogue). A run is one `verify` (same waiting for the
 * pipeline, same snapshot, same comparison); between runs it sleeps `intervalMs`. It stops on
 * the signal, after the table under way. It reads an embedded ClickHouse only through the sink's
 * endpoint, never by opening its directory (that would lock the sink out when it restarts): while
 * the sink is down a run reports the problem and the next one tries again.
 *
 * A row changed after a run's source snapshot may already be newer in ClickHouse: such a
 * difference lasts one run. `cdc_verify_match` and `cdc_verify_mismatched_rows` count only the
 * keys that differed in two runs in a row (`persistentDifferences`); each run's log line shows
 * everything it saw.
 *
 * A command of its own rather than a service under `cdc up`: it reads both databases, so the
 * operator starts it deliberately with a budget and a scrape port (and a supervisor can run it
 * like any long-running command).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createJsonLogger } from '@cdc/core';
import { loadPipeline } from '@cdc/pipeline';
import { createTelemetry, type Telemetry } from '@cdc/telemetry';
import { type TableReport, type VerifyOptions, type VerifyReport, verify } from './verify.ts';

/**
 * Keys that differed in this run and in the one before: a source that keeps changing makes a
 * row changed after the source snapshot differ for one run (ClickHouse already has the newer
 * state), never for two in a row unless it changes all the time. By key for tables compared by
 * ranges and for MongoDB collections; otherwise the smaller of the two runs' counts.
 */
export function persistentDifferences(before: TableReport | undefined, now: TableReport): number {
  if (now.match) return 0;
  if (!before || before.match) return 0;
  // MongoDB: the differing `_id`s one by one.
  const ka = before.repair?.keys;
  const kb = now.repair?.keys;
  if (ka && kb) {
    const seen = new Set(ka);
    return kb.filter((k) => seen.has(k)).length;
  }
  const a = before.repair?.ranges;
  const b = now.repair?.ranges;
  if (!a || !b) return Math.min(before.differing ?? 1, now.differing ?? 1);
  // Both lists are in key order and disjoint: one pass over their overlaps.
  let n = 0n;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as { lo: string; hi: string };
    const y = b[j] as { lo: string; hi: string };
    const lo = BigInt(x.lo) > BigInt(y.lo) ? BigInt(x.lo) : BigInt(y.lo);
    const hi = BigInt(x.hi) < BigInt(y.hi) ? BigInt(x.hi) : BigInt(y.hi);
    if (lo <= hi) n += hi - lo + 1n;
    if (BigInt(x.hi) < BigInt(y.hi)) i++;
    else j++;
  }
  return Number(n);
}

/**
 * One run's line in the continuous verifier's log. A table that differs in this run only is not
 * called a failure: its rows may have changed after the run's snapshot (the next run tells);
 * only differences seen in two runs in a row (`lasting`, by table) and problems (a database or
 * the sink unreachable) are.
 */
export function continuousRunLine(
  run: number,
  report: VerifyReport,
  lasting: ReadonlyMap<string, number>,
): string {
  const seconds = `${(report.elapsedMs / 1000).toFixed(1)} s`;
  const total = report.tables.length;
  const differing = report.tables.filter((t) => !t.match);
  const confirmed = differing.filter((t) => (lasting.get(`${t.source}\u0000${t.table}`) ?? 0) > 0);
  const once = differing.filter((t) => !confirmed.includes(t));
  const parts: string[] = [];
  if (confirmed.length > 0)
    parts.push(
      `differing in two runs in a row: ${confirmed
        .map((t) => `${t.table} (${lasting.get(`${t.source}\u0000${t.table}`)} row(s))`)
        .join(', ')}`,
    );
  if (once.length > 0)
    parts.push(
      `differing in this run only, compared again next run (rows changed after the snapshot, or new damage): ${once
        .map((t) => t.table)
        .join(', ')}`,
    );
  if (report.problems.length > 0) parts.push(`problems: ${report.problems.join('; ')}`);
  const status =
    report.problems.length > 0 || confirmed.length > 0 ? 'FAILED' : differing.length > 0 ? 'CHECKING' : 'OK';
  const head = `verify: run ${run}: ${status} — ${total - differing.length} of ${total} table(s) match`;
  return parts.length > 0 ? `${head}; ${parts.join('; ')} (${seconds})` : `${head} (${seconds})`;
}

/** One table as the continuous verifier last saw it (the control API's and console's view). */
export interface ContinuousTableState {
  source: string;
  table: string;
  /** No key differed in two runs in a row (what `cdc_verify_match` says). */
  match: boolean;
  /** Rows that differed in the last two runs alike (`cdc_verify_mismatched_rows`). */
  lastingDifferences: number;
  /** Whether the last run saw the table differ at all (its rows may have changed under it). */
  differedLastRun: boolean;
  sourceRows?: number;
  clickhouseRows?: number;
  method?: string;
  lastRunAt: string;
}

export interface ContinuousState {
  running: boolean;
  rowsPerSecond: number;
  intervalMs: number;
  runs: number;
  startedAt: string;
  lastRunAt: string | null;
  /** The last run's log line (`verify: run N: OK|CHECKING|FAILED — …`). */
  lastLine: string | null;
  tables: ContinuousTableState[];
}

export interface ContinuousLoopOptions extends VerifyOptions {
  /** Source rows read per second at most. */
  rowsPerSecond: number;
  /** Pause between two runs. */
  intervalMs: number;
  signal: AbortSignal;
  /** Where `cdc_verify_*` go: the CLI's own listener, or the control service's. */
  metrics: Telemetry['metrics'];
  /** Called after each run (tests). */
  onRun?: (report: VerifyReport) => void;
}

/**
 * The continuous verifier's loop, wherever it runs (`cdc verify --continuous`, or the control
 * service when started through its API): one `verify` per run, then `intervalMs` of rest, until
 * the signal. `state` is what it has seen so far.
 */
export class ContinuousVerifier {
  private readonly o: ContinuousLoopOptions;
  private readonly previous = new Map<string, TableReport>();
  private readonly tables = new Map<string, ContinuousTableState>();
  private readonly startedAt = new Date().toISOString();
  private runs = 0;
  private lastRunAt: string | null = null;
  private lastLine: string | null = null;
  private running = false;

  constructor(o: ContinuousLoopOptions) {
    this.o = o;
  }

  get state(): ContinuousState {
    return {
      running: this.running,
      rowsPerSecond: this.o.rowsPerSecond,
      intervalMs: this.o.intervalMs,
      runs: this.runs,
      startedAt: this.startedAt,
      lastRunAt: this.lastRunAt,
      lastLine: this.lastLine,
      tables: [...this.tables.values()],
    };
  }

  async run(): Promise<void> {
    const o = this.o;
    const log = o.log ?? (() => undefined);
    const m = o.metrics;
    this.running = true;
    try {
      while (!o.signal.aborted) {
        const report = await verify({
          ...o,
          openDirectory: false,
          // A mismatch is reported as it is; the next run compares again.
          once: true,
          ranges: { ...o.ranges, rowsPerSecond: o.rowsPerSecond },
        });
        this.runs++;
        const now = new Date();
        this.lastRunAt = now.toISOString();
        const lastingByTable = new Map<string, number>();
        for (const t of report.tables) {
          const labels = { source: t.source, table: t.table };
          const id = `${t.source}\u0000${t.table}`;
          const lasting = persistentDifferences(this.previous.get(id), t);
          lastingByTable.set(id, lasting);
          this.previous.set(id, t);
          m.verifyLastRun.set(now.getTime() / 1000, labels);
          m.verifyMatch.set(lasting === 0 ? 1 : 0, labels);
          m.verifyMismatchedRows.set(lasting, labels);
          m.verifyRangesChecked.add(t.ranges ?? 1, labels);
          m.verifyRowsChecked.add(t.sourceRows ?? 0, labels);
          this.tables.set(id, {
            source: t.source,
            table: t.table,
            match: lasting === 0,
            lastingDifferences: lasting,
            differedLastRun: !t.match,
            ...(t.sourceRows !== undefined ? { sourceRows: t.sourceRows } : {}),
            ...(t.clickhouseRows !== undefined ? { clickhouseRows: t.clickhouseRows } : {}),
            ...(t.method !== undefined ? { method: t.method } : {}),
            lastRunAt: this.lastRunAt,
          });
        }
        o.onRun?.(report);
        this.lastLine = continuousRunLine(this.runs, report, lastingByTable);
        log(this.lastLine);
        await sleep(o.intervalMs, undefined, { signal: o.signal }).catch(() => undefined);
      }
    } finally {
      this.running = false;
    }
  }
}

export interface ContinuousOptions extends Omit<ContinuousLoopOptions, 'metrics'> {
  /** `/metrics` port (0: an ephemeral one, logged); host: the pipeline file's telemetry host (127.0.0.1 by default). */
  metricsPort: number;
}

/** `cdc verify --continuous`: the loop with a `/metrics` listener of its own. */
export async function verifyContinuously(o: ContinuousOptions): Promise<void> {
  const log = o.log ?? (() => undefined);
  const pipeline = loadPipeline(o.config, o.env);
  const logger = createJsonLogger({ level: 'warn' });
  const telemetry = createTelemetry({
    service: 'verify',
    config: { ...pipeline.telemetry, http: { ...pipeline.telemetry.http, port: o.metricsPort } },
    logger,
  });
  const server = await telemetry.start();
  log(`verify: continuous, at most ${o.rowsPerSecond} rows/s, metrics on ${server.url}/metrics`);
  try {
    await new ContinuousVerifier({ ...o, metrics: telemetry.metrics }).run();
  } finally {
    await telemetry.shutdown();
  }
}

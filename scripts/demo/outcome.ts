/**
 * Whether the demo passed, and every reason it did not: pure decisions over what the demo saw —
 * the supervisor's record of each service (`<state>/state.json`), each service's `/readyz` at
 * the end, the catch-up after the generator stopped, `cdc verify` and the analytics queries.
 * Also the catch-up rule: wait while the lag keeps shrinking, within an overall bound.
 */
import type { PartitionLag, ServiceExit, ServiceName, ServiceState } from '@cdc/operate';

/**
 * What the demo reads of a service's entry in `state.json`: `restarts`, `exits` and `crashLoop`
 * are absent from state files written before `cdc up` restarted services.
 */
export type ServiceRecord = Pick<ServiceState, 'pid'> &
  Partial<Pick<ServiceState, 'log' | 'restarts' | 'crashLoop'>> & { exits?: readonly ServiceExit[] };

/** A service of the pipeline as the demo found it at the end of the catch-up, before stopping it. */
export interface ServiceCheck {
  name: ServiceName;
  /** Its entry in `state.json` (none: never started). */
  record: ServiceRecord | undefined;
  /** Its process is alive. */
  running: boolean;
  /** Its `/readyz` (only for a running service): `ready`, or why not. */
  readiness?: { ready: true } | { ready: false; detail: string };
  /** The last line of its log, for a service that is gone without a recorded exit (old supervisor). */
  lastLogLine?: string;
}

/** The exits of a service since `sinceMs` (a state file may still hold a previous run's). */
export function crashesSince(record: ServiceRecord | undefined, sinceMs: number): ServiceExit[] {
  return (record?.exits ?? []).filter((e) => !(Date.parse(e.at) < sinceMs));
}

/** The first line of a message, at most `max` characters: the final line stays one line. */
export function clip(s: string, max = 200): string {
  const first = s.trim().split('\n')[0] ?? '';
  return first.length > max ? `${first.slice(0, max - 1)}…` : first;
}

function describeExit(e: ServiceExit): string {
  if (e.lastError?.trim()) return clip(e.lastError);
  if (e.signal) return `killed by ${e.signal}`;
  return `exit code ${e.code ?? '?'}`;
}

/** Every failure of one service: crashed (even if restarted), not running, not ready. */
export function serviceReasons(c: ServiceCheck, sinceMs: number): string[] {
  if (!c.record) return [`${c.name} was not started`];
  const crashes = crashesSince(c.record, sinceMs);
  const last = crashes.at(-1);
  const parts: string[] = [];
  if (last)
    parts.push(
      `${c.name} crashed ${crashes.length}×${c.record.crashLoop ? ' (crash loop)' : ''} (last error: ${describeExit(last)})`,
    );
  if (!c.running) {
    const why = last ? '' : c.lastLogLine?.trim() ? ` (last log line: ${clip(c.lastLogLine)})` : '';
    parts.push(`${last ? 'it' : c.name} is not running at the end${why}`);
  } else if (c.readiness && !c.readiness.ready) {
    parts.push(
      `${last ? 'it' : c.name} is not ready at the end (${clip(c.readiness.detail) || 'no detail'})`,
    );
  }
  return parts.length > 0 ? [parts.join('; ')] : [];
}

/** The services' part of the live view's "services:" line: `processor (restarted 1×)`. */
export function serviceLabel(name: ServiceName, record: ServiceRecord, running: boolean): string {
  const restarts = record.restarts ?? 0;
  const flags = [
    ...(record.crashLoop ? ['crash loop'] : []),
    ...(running ? [] : [record.pid === 0 && !record.crashLoop ? 'waiting to restart' : 'exited']),
    ...(restarts > 0 ? [`restarted ${restarts}×`] : []),
  ];
  return flags.length > 0 ? `${name} (${flags.join(', ')})` : name;
}

// ---- catch-up ------------------------------------------------------------------------------

export interface CatchUpRule {
  /** Give up when the total lag has not shrunk for this long. */
  stallMs: number;
  /** Give up after this long in any case. */
  timeoutMs: number;
  /** Drained is trusted only this long after the generator stopped (its last changes may still be on the way). */
  settleMs: number;
}

export interface CatchUpProgress {
  startMs: number;
  /** The previous sample's total lag (undefined: none read yet). */
  lastLag: bigint | undefined;
  /** When the total lag last shrank (or the catch-up started). */
  shrankAtMs: number;
}

export type CatchUpVerdict = 'waiting' | 'caught-up' | 'stalled' | 'timed-out';

export const startCatchUp = (nowMs: number): CatchUpProgress => ({
  startMs: nowMs,
  lastLag: undefined,
  shrankAtMs: nowMs,
});

/** Records not yet consumed: a partition behind by one offset only (a transaction's commit marker) counts 0. */
export function totalLag(lags: readonly PartitionLag[]): bigint {
  return lags.reduce((a, l) => a + (l.lag > 1n ? l.lag : 0n), 0n);
}

/**
 * One sample of the catch-up (`lag`: the total over the sink's and the processor's groups, or
 * undefined when it could not be read): caught up once it is 0 after `settleMs`; otherwise it
 * goes on while the lag shrinks from one sample to the next, and gives up `stallMs` after it
 * last shrank, or at `timeoutMs`. Committed offsets only move forward, so a drop means a group
 * consumed more than was produced meanwhile: a lag that rose (the processor's outputs reaching
 * the sink) and fell again is progress, not a stall.
 */
export function catchUpStep(
  p: CatchUpProgress,
  nowMs: number,
  lag: bigint | undefined,
  rule: CatchUpRule,
  /** Whether the capture has read the source up to where it was when the wait began. */
  captured = true,
): { progress: CatchUpProgress; verdict: CatchUpVerdict } {
  const shrank = lag !== undefined && (p.lastLag === undefined || lag < p.lastLag);
  const progress: CatchUpProgress = {
    startMs: p.startMs,
    lastLag: lag ?? p.lastLag,
    shrankAtMs: shrank ? nowMs : p.shrankAtMs,
  };
  const verdict: CatchUpVerdict =
    lag === 0n && captured && nowMs - p.startMs >= rule.settleMs
      ? 'caught-up'
      : nowMs - p.startMs >= rule.timeoutMs
        ? 'timed-out'
        : nowMs - progress.shrankAtMs >= rule.stallMs
          ? 'stalled'
          : 'waiting';
  return { progress, verdict };
}

export interface CatchUpResult {
  /** `interrupted`: the user ended it (a second Ctrl-C). */
  verdict: Exclude<CatchUpVerdict, 'waiting'> | 'interrupted';
  elapsedMs: number;
  rule: CatchUpRule;
  /** The last lag read, every partition (those not behind are left out of the report). */
  lags: readonly PartitionLag[];
  /** The capture's last position read (none: no PostgreSQL capture, or not read). */
  capture?: CaptureProgress | undefined;
}

/** How far a PostgreSQL capture has read its source (`scripts/demo/catch-up.ts`, `captureReader`). */
export interface CaptureProgress {
  slot: string;
  /** The slot's confirmed position (null: the slot does not exist). */
  lsn: string | null;
  /** The source's WAL position when the wait began. */
  target: string;
  /** Whether `lsn` reached `target`. */
  done: boolean;
}

/** `the capture (slot s at X of the source's Y)`, for a capture that has not read everything yet. */
export function captureBehind(c: CaptureProgress): string {
  return `the capture (slot ${c.slot} at ${c.lsn ?? 'nothing: the slot is missing'} of the source's ${c.target})`;
}

/** `topic[p] lag, …` for the partitions behind, the most behind first, at most `max`. */
export function formatBehind(lags: readonly PartitionLag[], max = 8): string {
  const behind = lags.filter((l) => l.lag > 1n).sort((a, b) => (b.lag > a.lag ? 1 : b.lag < a.lag ? -1 : 0));
  const shown = behind.slice(0, max).map((l) => `${l.topic}[${l.partition}] ${l.lag}`);
  if (behind.length > max) shown.push(`… ${behind.length - max} more`);
  return shown.length > 0 ? shown.join(', ') : 'lag unknown';
}

export function catchUpReason(r: CatchUpResult): string | undefined {
  const s = (ms: number) => `${Math.round(ms / 1000)} s`;
  if (r.verdict === 'caught-up') return undefined;
  const how =
    r.verdict === 'stalled'
      ? `its lag did not shrink for ${s(r.rule.stallMs)}`
      : r.verdict === 'interrupted'
        ? `interrupted after ${s(r.elapsedMs)}`
        : `within ${s(r.rule.timeoutMs)}`;
  const behind = r.capture !== undefined && !r.capture.done ? [captureBehind(r.capture)] : [];
  // With the capture behind and every group drained, the capture alone is what is behind.
  if (behind.length === 0 || r.lags.some((l) => l.lag > 1n)) behind.push(formatBehind(r.lags));
  return `the pipeline did not catch up: ${how} (behind: ${behind.join(', ')})`;
}

// ---- verify and analytics --------------------------------------------------------------------

export type VerifyOutcome =
  | { ran: false; why: string }
  | { ran: true; ok: true }
  | { ran: true; ok: false; failure: string };

/** Verify's report, as far as the verdict needs it. */
export function verifyOutcome(r: {
  ok: boolean;
  tables: readonly { match: boolean }[];
  problems: readonly string[];
}): VerifyOutcome {
  if (r.ok) return { ran: true, ok: true };
  const differing = r.tables.filter((t) => !t.match).length;
  const problems = r.problems.length ? `, ${r.problems.length} problem(s)` : '';
  return { ran: true, ok: false, failure: `${differing} of ${r.tables.length} table(s) differ${problems}` };
}

/** Verify runs only against a pipeline that caught up with every service running. */
export function verifySkipReason(
  catchUp: CatchUpResult,
  services: readonly ServiceCheck[],
): string | undefined {
  if (catchUp.verdict !== 'caught-up') return 'the pipeline did not catch up';
  const down = services.filter((s) => !s.running).map((s) => s.name);
  return down.length > 0 ? `not running: ${down.join(', ')}` : undefined;
}

export type AnalyticsResult =
  | { name: string; rows: number }
  | { name: string; error: string }
  | { name: string; skipped: string };

// ---- the outcome -----------------------------------------------------------------------------

export interface DemoFacts {
  /** When `cdc up` was called: exits before it belong to an earlier run. */
  sinceMs: number;
  services: readonly ServiceCheck[];
  /** Services of the pipeline not in this checkout (named, not a failure). */
  skipped: readonly ServiceName[];
  catchUp: CatchUpResult;
  verify: VerifyOutcome;
  analytics: readonly AnalyticsResult[];
  /** Each aggregate against a GROUP BY over the verified replica (scripts/demo/reconcile.ts); none when verify did not pass. */
  reconciled?: readonly ReconciledAggregate[];
}

export interface ReconciledAggregate {
  aggregate: string;
  /** Every window of every group equals the source (or the check does not cover it: `skipped`). */
  ok: boolean;
  skipped?: boolean;
  /** The line the demo printed for it. */
  line: string;
}

export interface Outcome {
  ok: boolean;
  /** Every reason the demo failed, in the order things happened. */
  reasons: string[];
}

export function outcome(f: DemoFacts): Outcome {
  const reasons = [
    ...f.services.flatMap((s) => serviceReasons(s, f.sinceMs)),
    ...[catchUpReason(f.catchUp)].filter((r) => r !== undefined),
  ];
  // Why it was skipped is among the reasons above (the catch-up, a service not running).
  if (!f.verify.ran) reasons.push('verify skipped');
  else if (!f.verify.ok) reasons.push(`verify FAILED (${f.verify.failure})`);
  for (const a of f.analytics) {
    if ('error' in a) reasons.push(`analytics query "${a.name}" failed: ${clip(a.error)}`);
    else if ('rows' in a && a.rows === 0) reasons.push(`analytics query "${a.name}" printed no rows`);
  }
  for (const r of f.reconciled ?? [])
    if (!r.ok)
      reasons.push(
        `aggregate ${r.aggregate} does not equal its source (${clip(r.line.slice(r.aggregate.length + 2))})`,
      );
  return { ok: reasons.length === 0, reasons };
}

/** The demo's last line: `demo passed in 140 s: …` or `demo FAILED in 312 s: <every reason>`. */
export function finalLine(f: DemoFacts, o: Outcome, elapsedMs: number): string {
  const took = `${Math.round(elapsedMs / 1000)} s`;
  if (!o.ok) return `demo FAILED in ${took}: ${o.reasons.join('; ')}`;
  const printed = f.analytics.filter((a) => 'rows' in a).length;
  const skipped = f.analytics.filter((a) => 'skipped' in a).length;
  return [
    `demo passed in ${took}: verify passed`,
    `${printed} analytics ${printed === 1 ? 'query' : 'queries'} printed rows${skipped ? ` (${skipped} skipped)` : ''}`,
    ...((f.reconciled ?? []).some((r) => !r.skipped)
      ? [`${(f.reconciled ?? []).filter((r) => !r.skipped).length} aggregates equal their source`]
      : []),
    `no service crashed${f.skipped.length ? ` (not in this checkout: ${f.skipped.join(', ')})` : ''}`,
  ].join(', ');
}

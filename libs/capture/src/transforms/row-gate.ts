/**
 * The one place a row meets its table's transforms, whichever path read it (snapshot,
 * incremental snapshot, stream, quarantine replay), so all of them are identical by
 * construction:
 *
 * 1. a table stopped by a `stop` rule holds every row: quarantined with the stop's reason;
 * 2. the filter: a row it drops is `filtered` (an update becomes a delete of the key);
 * 3. the quality rules: `count` only counts, `quarantine` sends the row to the quarantine
 *    topic, `stop` quarantines it and stops the table (its later rows are held the same way)
 *    with an error naming the rule, the key and the fix, while the other tables go on;
 * 4. the projection (exclude, rename, mask, computed).
 *
 * A quarantine record carries the projected row (masked values stay masked) and, per broken
 * rule, the value that broke it (`(masked)` for a masked or excluded column), so nothing the
 * pipeline file hides reaches Kafka through the quarantine either.
 */
import { CdcError, type Clock, type Logger, stableJson, systemClock } from '@cdc/core';
import type { OutRecord } from '../offsets-store.ts';
import type { Violation } from './rules.ts';
import type { CompiledTransform } from './table-transform.ts';

/** What the gate needs of a compiled transform (a table's, or a collection's for documents). */
export type GateTransform = Pick<
  CompiledTransform,
  'table' | 'active' | 'keep' | 'check' | 'project' | 'hidden' | 'freshness'
>;

export { quarantineTopic } from '@cdc/core';

/** The quarantine record key of a row: `<table> <stable JSON of the key>`. */
export function quarantineKey(table: string, key: Record<string, unknown> | string | null): string {
  return `${table} ${typeof key === 'string' ? key : key === null ? 'null' : stableJson(key)}`;
}

/**
 * `resolved`: this row's key had a quarantine entry (from this capture since it started) that
 * this change makes stale: the caller writes a tombstone for it, so `cdc quarantine list` shows
 * only rows that are still broken.
 */
export type GateResult =
  | { kind: 'write'; row: Record<string, unknown>; resolved?: string }
  | { kind: 'filtered'; resolved?: string }
  | { kind: 'quarantine'; violations: Violation[]; reason: string; row: Record<string, unknown> };

/** What the gate reports (the capture connects it to metrics and `/readyz`). */
export interface QualityObserver {
  /** One row of `table` passed, was filtered out or was quarantined. */
  outcome(table: string, outcome: 'passed' | 'filtered' | 'quarantined'): void;
  violation(table: string, rule: string, action: Violation['action']): void;
  /** `table` stopped (`message`: the rule, the key and the fix), or resumed (null). */
  stopped(table: string, message: string | null): void;
  /** `table` had no change for longer than a `freshness` rule allows (`message`), or changes again (null). */
  stale(table: string, message: string | null): void;
}

export const noopQualityObserver: QualityObserver = {
  outcome: () => {},
  violation: () => {},
  stopped: () => {},
  stale: () => {},
};

export class RowGate {
  private readonly stops = new Map<string, string>();
  private readonly observer: QualityObserver;
  private readonly logger: Logger;
  private readonly fix: (table: string) => string;
  /** Tables with `freshness` rules: their rules, last change and whether reported stale. */
  private readonly watched = new Map<
    string,
    { rules: { name: string; maxAgeMs: number }[]; lastChangeMs: number; stale: Set<string> }
  >();
  private timer: NodeJS.Timeout | undefined;
  /** Per table, the keys (stable JSON) quarantined since start and not resolved since. */
  private readonly held = new Map<string, Set<string>>();

  /** Capture time: what `freshness` and `unique_within` measure. */
  private readonly clock: Clock;

  /** `fix`: what the operator does after fixing the row (default: replay the table's quarantine). */
  constructor(
    observer: QualityObserver,
    logger: Logger,
    fix?: (table: string) => string,
    clock: Clock = systemClock,
  ) {
    this.observer = observer;
    this.logger = logger;
    this.fix = fix ?? ((table) => `run \`cdc quarantine replay ${table}\``);
    this.clock = clock;
  }

  /** Tables stopped by a `stop` rule, with the reason. */
  get stopped(): ReadonlyMap<string, string> {
    return this.stops;
  }

  /** The operator fixed the cause (a replay of the table's quarantine): the table flows again. */
  resume(table: string): void {
    if (!this.stops.delete(table)) return;
    this.logger.info('table resumed after its quarantine was replayed', { table });
    this.observer.stopped(table, null);
  }

  /**
   * Watches the `freshness` rules of `t` (from now on: the capture describes a table when it
   * snapshots it or first streams a change of it). Checked every few seconds, or by `checkFreshness`.
   */
  watch(t: GateTransform): void {
    if (t.freshness.length === 0 || this.watched.has(t.table)) return;
    this.watched.set(t.table, { rules: t.freshness, lastChangeMs: this.clock.now(), stale: new Set() });
    if (!this.timer) {
      const every = Math.max(1_000, Math.min(10_000, ...t.freshness.map((f) => f.maxAgeMs / 4)));
      this.timer = setInterval(() => this.checkFreshness(), every);
      this.timer.unref();
    }
  }

  /** Reports every watched table whose last change is older than a `freshness` rule allows. */
  checkFreshness(): void {
    const nowMs = this.clock.now();
    for (const [table, w] of this.watched) {
      for (const rule of w.rules) {
        if (nowMs - w.lastChangeMs <= rule.maxAgeMs || w.stale.has(rule.name)) continue;
        w.stale.add(rule.name);
        this.observer.violation(table, rule.name, 'count');
        const minutes = (nowMs - w.lastChangeMs) / 60_000;
        this.observer.stale(
          table,
          `${table}: no change for ${minutes.toFixed(1)} min, more than rule ${rule.name} allows (${rule.maxAgeMs / 60_000} min); check the application writing it`,
        );
      }
    }
  }

  private touched(t: GateTransform, nowMs: number): void {
    const w = this.watched.get(t.table);
    if (!w) return;
    w.lastChangeMs = nowMs;
    if (w.stale.size > 0) {
      w.stale.clear();
      this.observer.stale(t.table, null);
    }
  }

  /** `row` (an Avro row of the source table) → what to write. `key` names the row in messages. */
  apply(t: GateTransform, row: Record<string, unknown>, key: Record<string, unknown> | null): GateResult {
    if (!t.active) return { kind: 'write', row };
    const nowMs = this.clock.now();
    if (t.freshness.length > 0) this.touched(t, nowMs);
    let keyText: string | undefined;
    const keyOf = () => {
      keyText ??= key === null ? 'null' : stableJson(key);
      return keyText;
    };
    const stop = this.stops.get(t.table);
    if (stop !== undefined)
      return this.quarantined(t, keyOf(), {
        kind: 'quarantine',
        violations: [],
        reason: stop,
        row: t.project(row),
      });
    if (!t.keep(row)) {
      this.observer.outcome(t.table, 'filtered');
      return this.settled(t, keyOf, { kind: 'filtered' });
    }
    const violations = t.check(row, keyOf, nowMs);
    if (violations.length === 0) {
      this.observer.outcome(t.table, 'passed');
      return this.settled(t, keyOf, { kind: 'write', row: t.project(row) });
    }
    for (const v of violations) {
      this.observer.violation(t.table, v.rule, v.action);
      if (t.hidden.has(v.column)) v.value = '(masked)';
    }
    const stopping = violations.find((v) => v.action === 'stop');
    if (stopping) {
      const error = stopError(t.table, stopping, key, this.fix(t.table));
      this.stops.set(t.table, error.message);
      this.logger.error('a stop rule broke: the table is stopped, its changes are held in quarantine', {
        err: error,
      });
      this.observer.stopped(t.table, error.message);
      return this.quarantined(t, keyOf(), {
        kind: 'quarantine',
        violations,
        reason: error.message,
        row: t.project(row),
      });
    }
    const q = violations.find((x) => x.action === 'quarantine');
    if (q)
      return this.quarantined(t, keyOf(), {
        kind: 'quarantine',
        violations,
        reason: `rule ${q.rule} broken by ${q.value} (expected ${q.expected})`,
        row: t.project(row),
      });
    this.observer.outcome(t.table, 'passed');
    return this.settled(t, keyOf, { kind: 'write', row: t.project(row) });
  }

  private quarantined(
    t: GateTransform,
    keyText: string,
    result: Extract<GateResult, { kind: 'quarantine' }>,
  ): GateResult {
    this.observer.outcome(t.table, 'quarantined');
    let keys = this.held.get(t.table);
    if (!keys) {
      keys = new Set();
      this.held.set(t.table, keys);
    }
    // Bounded: past this, older entries are resolved only by a replay or a discard.
    if (keys.size < HELD_KEYS_PER_TABLE) keys.add(keyText);
    return result;
  }

  private settled<R extends Extract<GateResult, { kind: 'write' | 'filtered' }>>(
    t: GateTransform,
    keyOf: () => string,
    result: R,
  ): R {
    const keys = this.held.get(t.table);
    if (!keys || keys.size === 0) return result;
    const k = keyOf();
    if (!keys.delete(k)) return result;
    return { ...result, resolved: quarantineKey(t.table, k) };
  }
}

/** Keys per table whose quarantine entries the gate resolves by itself when a later change passes. */
const HELD_KEYS_PER_TABLE = 100_000;

/** The error of a broken `stop` rule: the rule, the key, the value and the fix. */
export function stopError(
  table: string,
  v: Violation,
  key: Record<string, unknown> | null,
  fix = `run \`cdc quarantine replay ${table}\``,
): CdcError {
  const keyText = key === null ? '(no key)' : stableJson(key);
  return new CdcError(
    'DATA_QUALITY',
    `${table}: quality rule ${v.rule} (action stop) broken by the row with key ${keyText}: ${v.column} is ${v.value}, expected ${v.expected}. The table is stopped (its changes are held in the quarantine topic; the other tables go on). Fix the row in the source (or the rule in the pipeline file), then ${fix}`,
    { context: { table, rule: v.rule, rowKey: keyText, column: v.column } },
  );
}

/** A quarantine record: JSON with the table, key, op, broken rules and the projected row. */
export function quarantineRecord(options: {
  topic: string;
  sourceTopic: string;
  table: string;
  key: Record<string, unknown> | null;
  op: string;
  changeId: string;
  result: Extract<GateResult, { kind: 'quarantine' }>;
  nowMs: number;
}): OutRecord {
  const { result } = options;
  return {
    topic: options.topic,
    key: quarantineKey(options.table, options.key),
    value: stableJson({
      table: options.table,
      key: options.key,
      op: options.op,
      changeId: options.changeId,
      reason: result.reason,
      violations: result.violations,
      row: result.row,
      quarantinedAtMs: options.nowMs,
    }),
    headers: {
      'cdc.quality.rule': result.violations.map((v) => v.rule).join(',') || 'table-stopped',
      'cdc.source.topic': options.sourceTopic,
      'cdc.change-id': options.changeId,
    },
  };
}

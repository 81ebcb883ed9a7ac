/**
 * What a capture reports while it runs, whatever its source: snapshot progress, records written
 * per topic and Kafka transactions by outcome, records per transaction, the age of the last
 * change written (capture lag), dead letters, the source's retained history, errors, whether
 * it runs, and a span around every Kafka transaction whose trace context goes into the records'
 * headers (the processor and the sink continue it). `captureMain` connects it to
 * `@cdc/telemetry` (`telemetryObserver`); without it nothing is reported (`noopObserver`).
 */
import { type Clock, isCdcError, systemClock } from '@cdc/core';
import {
  type DeadLetterEvent,
  deadLetterReporter,
  injectTraceContext,
  qualityReporter,
  type ReadinessFlag,
  type RecordHeaders,
  type Telemetry,
  withSpan,
} from '@cdc/telemetry';
import type { OutRecord } from './offsets-store.ts';
import { SnapshotRateMeter } from './snapshot-rate.ts';
import { noopQualityObserver, type QualityObserver } from './transforms/row-gate.ts';

export interface CaptureObserver {
  /** Snapshot progress of a table or collection; `rate` (rows/s) and `etaSeconds` when known. */
  snapshotProgress(
    table: string,
    rowsDone: number,
    rowsEstimated: number,
    rate?: { rowsPerSecond: number; etaSeconds: number },
  ): void;
  /**
   * Runs one Kafka transaction's write in a span; `headers` (trace context, or undefined
   * without tracing) belong on every record of it.
   */
  transaction<T>(name: string, write: (headers: RecordHeaders | undefined) => Promise<T>): Promise<T>;
  /**
   * A Kafka transaction committed `perTopic` records (`countByTopic`); `sourceTsMs`: the source
   * time of its last change (null for a snapshot batch or a position-only commit).
   */
  committed(perTopic: ReadonlyMap<string, number>, sourceTsMs: number | null): void;
  aborted(): void;
  /** A change went to the dead-letter topic instead of `topic` (`subject`: `table public.orders`). */
  deadLettered(event: DeadLetterEvent): void;
  /** Bytes of history the source keeps for the capture (PostgreSQL: the slot's retained WAL). */
  slotWalRetained(bytes: number): void;
  /** Snapshotting or streaming (true), or between sessions (false), with what it does or why not. */
  running(active: boolean, detail: string): void;
  error(err: unknown): void;
  /** Per-table transforms: rows passed, filtered, quarantined; broken rules; tables stopped by a rule. */
  readonly quality: QualityObserver;
}

export const noopObserver: CaptureObserver = {
  snapshotProgress: () => {},
  transaction: (_name, write) => write(undefined),
  committed: () => {},
  aborted: () => {},
  deadLettered: () => {},
  slotWalRetained: () => {},
  running: () => {},
  error: () => {},
  quality: noopQualityObserver,
};

/** Adds the records of each topic to `into`. */
export function countByTopic(
  records: readonly OutRecord[],
  into: Map<string, number> = new Map(),
): Map<string, number> {
  for (const r of records) into.set(r.topic, (into.get(r.topic) ?? 0) + 1);
  return into;
}

/** Adds `headers` to every record (a new object per record only when there are headers). */
export function withHeaders(records: OutRecord[], headers: RecordHeaders | undefined): OutRecord[] {
  if (!headers || Object.keys(headers).length === 0) return records;
  const h = headers as Record<string, string>;
  return records.map((r) => ({ ...r, headers: r.headers ? { ...r.headers, ...h } : h }));
}

export interface TelemetryObserverOptions {
  /** The source's name (the metrics' `source` label). */
  source: string;
  ready: ReadinessFlag;
  deadLetterTopic: string;
  /** Topics whose records are no data (the offsets topic's state records): not counted. */
  uncounted?: readonly string[];
  /** The `slot` label of the retained-history gauge (PostgreSQL's slot name). */
  slot?: string;
  /** What capture lag is measured against (default: the system clock). */
  clock?: Clock;
}

export function telemetryObserver(telemetry: Telemetry, options: TelemetryObserverOptions): CaptureObserver {
  const { metrics, tracer } = telemetry;
  const { source, ready } = options;
  const clock = options.clock ?? systemClock;
  const uncounted = new Set(options.uncounted ?? []);
  const report = deadLetterReporter(telemetry, options.deadLetterTopic);
  const rates = new SnapshotRateMeter(clock);
  return {
    snapshotProgress(table, rowsDone, rowsEstimated, measured) {
      metrics.snapshotRowsDone.set(rowsDone, { source, table });
      metrics.snapshotRowsEstimated.set(rowsEstimated, { source, table });
      const rate = measured ?? rates.measure(table, rowsDone, rowsEstimated);
      if (rate) {
        metrics.snapshotRowsPerSecond.set(rate.rowsPerSecond, { source, table });
        metrics.snapshotEta.set(rate.etaSeconds, { source, table });
      }
    },
    transaction: (name, write) =>
      withSpan(tracer, name, () => write(injectTraceContext({})), { attributes: { 'cdc.source': source } }),
    committed(perTopic, sourceTsMs) {
      let total = 0;
      for (const [topic, n] of perTopic) {
        if (uncounted.has(topic)) continue;
        metrics.recordsOut.add(n, { stage: 'capture', topic });
        total += n;
      }
      if (total > 0) metrics.batchSize.record(total, { stage: 'capture' });
      metrics.transactions.add(1, { stage: 'capture', outcome: 'commit' });
      if (sourceTsMs !== null)
        metrics.captureLag.set(Math.max(0, (clock.now() - sourceTsMs) / 1000), { source });
    },
    aborted() {
      metrics.transactions.add(1, { stage: 'capture', outcome: 'abort' });
    },
    deadLettered(event) {
      report(event);
    },
    slotWalRetained(bytes) {
      metrics.slotWalRetained.set(bytes, { slot: options.slot ?? source });
    },
    running(active, detail) {
      ready.set(active, detail);
      // Streaming again: nothing is behind until the first commit says otherwise.
      if (active && detail === 'streaming') metrics.captureLag.set(0, { source });
    },
    error(err) {
      metrics.errors.add(1, { stage: 'capture', code: isCdcError(err) ? err.code : 'UNKNOWN' });
    },
    quality: qualityReporter(telemetry, 'capture'),
  };
}

/**
 * What the capture reports while it runs: snapshot progress, commits and aborts, the slot's
 * retained WAL, errors, whether it streams, and a span around every Kafka transaction whose
 * trace context goes into the records' headers. `main.ts` connects it to `@cdc/telemetry`
 * (`telemetryObserver`); without it nothing is reported (`noopObserver`).
 */
import { noopQualityObserver, type OutRecord, type QualityObserver } from '@cdc/capture';
import { isCdcError } from '@cdc/core';
import {
  deadLetterReporter,
  injectTraceContext,
  qualityReporter,
  type ReadinessFlag,
  type RecordHeaders,
  type Telemetry,
  withSpan,
} from '@cdc/telemetry';

export interface CaptureObserver {
  /** Snapshot progress of a table; `rate` (rows/s) and `etaSeconds` when known. */
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
   * A Kafka transaction committed `perTopic` records (`countByTopic`); `sourceTsMs`: commit
   * time of its last source change (null for a snapshot).
   */
  committed(perTopic: ReadonlyMap<string, number>, sourceTsMs: number | null): void;
  aborted(): void;
  /** A change of `table` went to the dead-letter topic instead of `topic`. */
  deadLettered(table: string, topic: string, reason: string, message: string): void;
  slotWalRetained(bytes: number): void;
  streaming(active: boolean): void;
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
  streaming: () => {},
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

export function telemetryObserver(
  telemetry: Telemetry,
  options: { source: string; slot: string; ready: ReadinessFlag; deadLetterTopic: string },
): CaptureObserver {
  const { metrics, tracer } = telemetry;
  const { source, slot, ready } = options;
  const report = deadLetterReporter(telemetry, options.deadLetterTopic);
  return {
    snapshotProgress(table, rowsDone, rowsEstimated, rate) {
      metrics.snapshotRowsDone.set(rowsDone, { source, table });
      metrics.snapshotRowsEstimated.set(rowsEstimated, { source, table });
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
        metrics.recordsOut.add(n, { stage: 'capture', topic });
        total += n;
      }
      metrics.batchSize.record(total, { stage: 'capture' });
      metrics.transactions.add(1, { stage: 'capture', outcome: 'commit' });
      if (sourceTsMs !== null)
        metrics.captureLag.set(Math.max(0, (Date.now() - sourceTsMs) / 1000), { source });
    },
    aborted() {
      metrics.transactions.add(1, { stage: 'capture', outcome: 'abort' });
    },
    deadLettered(table, topic, reason, message) {
      report({ subject: `table ${table}`, topic, reason, message });
    },
    slotWalRetained(bytes) {
      metrics.slotWalRetained.set(bytes, { slot });
    },
    streaming(active) {
      ready.set(active, active ? 'streaming' : 'reconnecting');
      if (!active) return;
      metrics.captureLag.set(0, { source });
    },
    error(err) {
      metrics.errors.add(1, { stage: 'capture', code: isCdcError(err) ? err.code : 'UNKNOWN' });
    },
    quality: qualityReporter(telemetry, 'capture'),
  };
}

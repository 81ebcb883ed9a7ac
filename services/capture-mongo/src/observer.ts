/**
 * What the capture reports while it runs: snapshot progress per collection, records written per
 * topic and Kafka transactions by outcome, records per transaction, the age of the last change
 * written, dead letters, errors, whether it streams, and a span around every Kafka transaction
 * whose trace context goes into the records' headers (the processor and the sink continue it).
 * `main.ts` connects it to `@cdc/telemetry` (`telemetryObserver`); without it nothing is
 * reported (`noopObserver`).
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
  snapshotProgress(collection: string, documentsDone: number, documentsEstimated: number): void;
  /**
   * Runs one Kafka transaction's write in a span; `headers` (trace context, or undefined
   * without tracing) belong on every record of it.
   */
  transaction<T>(name: string, write: (headers: RecordHeaders | undefined) => Promise<T>): Promise<T>;
  /**
   * A Kafka transaction committed `records`; `sourceTsMs`: the source time of its last change
   * (null for a snapshot batch or a position-only commit).
   */
  committed(records: readonly OutRecord[], sourceTsMs: number | null): void;
  aborted(): void;
  /** A change meant for `topic` went to the dead-letter topic. */
  deadLettered(topic: string, reason: string, message: string): void;
  /** Snapshotting or streaming (true), or between sessions (false, with why). */
  running(active: boolean, detail: string): void;
  error(err: unknown): void;
  /** Per-collection transforms: documents passed, filtered, quarantined; broken rules; stops. */
  readonly quality: QualityObserver;
}

export const noopObserver: CaptureObserver = {
  snapshotProgress: () => {},
  transaction: (_name, write) => write(undefined),
  committed: () => {},
  aborted: () => {},
  deadLettered: () => {},
  quality: noopQualityObserver,
  running: () => {},
  error: () => {},
};

/** Adds `headers` to every record (a new object per record only when there are headers). */
export function withHeaders(records: OutRecord[], headers: RecordHeaders | undefined): OutRecord[] {
  if (!headers || Object.keys(headers).length === 0) return records;
  const h = headers as Record<string, string>;
  return records.map((r) => ({ ...r, headers: r.headers ? { ...r.headers, ...h } : h }));
}

export function telemetryObserver(
  telemetry: Telemetry,
  options: { source: string; ready: ReadinessFlag; offsetsTopic: string; deadLetterTopic: string },
): CaptureObserver {
  const { metrics, tracer } = telemetry;
  const report = deadLetterReporter(telemetry, options.deadLetterTopic);
  const { source, ready, offsetsTopic } = options;
  return {
    snapshotProgress(collection, done, estimated) {
      metrics.snapshotRowsDone.set(done, { source, table: collection });
      metrics.snapshotRowsEstimated.set(estimated, { source, table: collection });
    },
    transaction: (name, write) =>
      withSpan(tracer, name, () => write(injectTraceContext({})), { attributes: { 'cdc.source': source } }),
    committed(records, sourceTsMs) {
      const perTopic = new Map<string, number>();
      for (const r of records) {
        if (r.topic === offsetsTopic) continue; // inferred schema states
        perTopic.set(r.topic, (perTopic.get(r.topic) ?? 0) + 1);
      }
      let total = 0;
      for (const [topic, n] of perTopic) {
        metrics.recordsOut.add(n, { stage: 'capture', topic });
        total += n;
      }
      if (total > 0) metrics.batchSize.record(total, { stage: 'capture' });
      metrics.transactions.add(1, { stage: 'capture', outcome: 'commit' });
      if (sourceTsMs !== null)
        metrics.captureLag.set(Math.max(0, (Date.now() - sourceTsMs) / 1000), { source });
    },
    aborted() {
      metrics.transactions.add(1, { stage: 'capture', outcome: 'abort' });
    },
    deadLettered(topic, reason, message) {
      report({ subject: `collection of ${topic}`, topic, reason, message });
    },
    running(active, detail) {
      ready.set(active, detail);
    },
    error(err) {
      metrics.errors.add(1, { stage: 'capture', code: isCdcError(err) ? err.code : 'UNKNOWN' });
    },
    quality: qualityReporter(telemetry, 'capture'),
  };
}

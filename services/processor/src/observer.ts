/**
 * What the processor reports while it runs: records read per CDC topic, records written per
 * output topic and Kafka transactions by outcome (counted when a transaction commits, so an
 * aborted and retried batch is not counted twice), records per transaction, late records, dead
 * letters, and a span per input record that continues the trace of its source transaction
 * (trace context from the record's headers) and is carried on to the output records.
 * `main.ts` connects it to `@cdc/telemetry` (`telemetryObserver`); without it nothing is
 * reported (`noopObserver`).
 */
import type { Headers, ProcessorContext, ProcessorSupplier, StreamsMetrics } from '@cdc/streams';
import {
  extractTraceContext,
  injectTraceContext,
  type RecordHeaders,
  type Telemetry,
  withSpan,
} from '@cdc/telemetry';

export interface ProcessorObserver {
  /**
   * One record of `topic` read: runs `forward` (the rest of the topology for this record) in a
   * span of the record's trace, with the headers the outputs should carry.
   */
  record(
    topic: string,
    headers: Headers | undefined,
    forward: (headers: Headers) => void | Promise<void>,
  ): void | Promise<void>;
  /** A Kafka transaction committed `perTopic` records (internal topics excluded). */
  committed(perTopic: ReadonlyMap<string, number>, total: number): void;
  aborted(): void;
}

export const noopObserver: ProcessorObserver = {
  record: (_topic, headers, forward) => forward(headers ?? {}),
  committed: () => {},
  aborted: () => {},
};

/** The first step after a CDC topic's source: hands each record to `observer.record`. */
export function observed<K, V>(topic: string, observer: ProcessorObserver): ProcessorSupplier<K, V, K, V> {
  return () => {
    let ctx: ProcessorContext<K, V>;
    return {
      init(c) {
        ctx = c;
      },
      process(r) {
        // Headers handed back unchanged (no tracing) need no new record.
        return observer.record(topic, r.headers, (headers) =>
          ctx.forward(headers === r.headers ? r : { ...r, headers }),
        );
      },
    };
  };
}

export function telemetryObserver(telemetry: Telemetry, application: string): ProcessorObserver {
  const { metrics, tracer } = telemetry;
  // Reads are counted per topic here and added to the metric at each transaction's end: one
  // metric update per record cost more than the record's enrichment.
  const read = new Map<string, number>();
  const flushReads = () => {
    for (const [topic, n] of read) metrics.recordsIn.add(n, { stage: 'process', topic });
    read.clear();
  };
  return {
    record(topic, headers, forward) {
      read.set(topic, (read.get(topic) ?? 0) + 1);
      // No span goes anywhere: the outputs carry the source transaction's trace context as it came.
      if (!telemetry.tracing) return forward(headers ?? {});
      return withSpan(
        tracer,
        'process',
        () => {
          const out: Record<string, Buffer | string> = { ...headers };
          delete out.traceparent;
          delete out.tracestate;
          return forward(injectTraceContext(out as RecordHeaders) as Headers);
        },
        {
          parent: extractTraceContext(headers as RecordHeaders | undefined),
          attributes: { 'cdc.topic': topic, 'cdc.application': application },
        },
      );
    },
    committed(perTopic, total) {
      flushReads();
      for (const [topic, n] of perTopic) metrics.recordsOut.add(n, { stage: 'process', topic });
      metrics.batchSize.record(total, { stage: 'process' });
      metrics.transactions.add(1, { stage: 'process', outcome: 'commit' });
    },
    aborted() {
      flushReads();
      metrics.transactions.add(1, { stage: 'process', outcome: 'abort' });
    },
  };
}

/**
 * The runtime's counters as catalogue metrics: called periodically, adds what grew since the
 * last call. Late records by application; records the dead-letter policy parked, by the
 * application id as `topic` (the runtime does not count them per input topic); records a
 * `continue` policy skipped, as errors; changelog records restored into local stores.
 */
export function runtimeCounters(
  telemetry: Telemetry,
  application: string,
  /** Receives the runtime's restore progress per store (see `restoreProgress`). */
  restoring?: (r: StreamsMetrics['restoring']) => void,
): (m: StreamsMetrics) => void {
  const last = { lateRecords: 0, deadLettered: 0, skipped: 0, restored: 0 };
  const { metrics } = telemetry;
  return (m) => {
    const late = m.lateRecords - last.lateRecords;
    const dead = m.deadLettered - last.deadLettered;
    const skipped = m.skipped - last.skipped;
    const restored = m.restored - last.restored;
    if (late > 0) metrics.lateRecords.add(late, { application });
    if (dead > 0) metrics.deadLetters.add(dead, { topic: application, reason: 'POISON_RECORD' });
    if (skipped > 0) metrics.errors.add(skipped, { stage: 'process', code: 'POISON_RECORD' });
    if (restored > 0) metrics.stateRestored.add(restored, { application });
    last.lateRecords = m.lateRecords;
    last.deadLettered = m.deadLettered;
    last.skipped = m.skipped;
    last.restored = m.restored;
    restoring?.(m.restoring);
  };
}

/**
 * The restore progress gauges of a processor process: per store, the changelog records its
 * stream threads' restores have read and those they had to read, summed over the threads
 * (`cdc_state_restore_records` / `_estimated`). Each thread's runtime reports its own figures
 * (`thread`: 0 for the main one).
 */
export function restoreProgress(
  telemetry: Telemetry,
): (thread: number, r: StreamsMetrics['restoring']) => void {
  const byThread = new Map<number, StreamsMetrics['restoring']>();
  return (thread, r) => {
    byThread.set(thread, r);
    const sums = new Map<string, { restored: number; estimated: number }>();
    for (const t of byThread.values())
      for (const [store, p] of Object.entries(t)) {
        const sum = sums.get(store) ?? { restored: 0, estimated: 0 };
        sum.restored += p.restored;
        sum.estimated += p.estimated;
        sums.set(store, sum);
      }
    for (const [store, p] of sums) {
      telemetry.metrics.stateRestoreRecords.set(p.restored, { store });
      telemetry.metrics.stateRestoreRecordsEstimated.set(p.estimated, { store });
    }
  };
}

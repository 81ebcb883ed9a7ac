/**
 * What the sink reports while it runs: records consumed and inserted per topic, batch sizes,
 * insert durations per table, the end-to-end latency of every change (its source commit to
 * its insert), dead letters, errors, whether writes succeed, and one span per batch in the
 * trace of each source transaction it carries (trace context from the records' headers).
 * `main.ts` connects it to `@cdc/telemetry` (`telemetryObserver`); without it nothing is
 * reported (`noopObserver`).
 */
import { isCdcError } from '@cdc/core';
import {
  deadLetterReporter,
  type ReadinessFlag,
  type RecordHeaders,
  startBatchSpans,
  type Telemetry,
} from '@cdc/telemetry';
import type { DeadLetter } from './dead-letter.ts';
import type { KafkaRecord } from './decode.ts';
import { type RowItem, sourceCommitMs } from './row-item.ts';

type Rejected = { item: RowItem; error: unknown };

export interface SinkObserver {
  /** `records` records of `topic` fetched into the buffer. */
  consumed(topic: string, records: number): void;
  /** Runs one attempt at flushing `records` (a span per source transaction they carry). */
  flush<T>(records: readonly KafkaRecord[], run: () => Promise<T>): Promise<T>;
  /** Runs one table's insert; `insert` returns the items ClickHouse rejected. */
  insert(table: string, items: readonly RowItem[], insert: () => Promise<Rejected[]>): Promise<Rejected[]>;
  deadLettered(letters: readonly DeadLetter[]): void;
  /** The tables stopped now (their records held while the others flow), with why; empty at start. */
  stoppedTables(stopped: ReadonlyMap<string, Error>): void;
  /** A flush attempt failed (it is retried when retriable). */
  error(err: unknown): void;
}

export const noopObserver: SinkObserver = {
  consumed: () => {},
  flush: (_records, run) => run(),
  insert: (_table, _items, insert) => insert(),
  deadLettered: () => {},
  stoppedTables: () => {},
  error: () => {},
};

export function telemetryObserver(
  telemetry: Telemetry,
  options: { writes: ReadinessFlag; deadLetterTopic: string; now?: () => number },
): SinkObserver {
  const { metrics, tracer, readiness } = telemetry;
  const now = options.now ?? Date.now;
  const stoppedBefore = new Map<string, string>();
  const deadLettered = deadLetterReporter(telemetry, options.deadLetterTopic);
  return {
    consumed(topic, records) {
      metrics.recordsIn.add(records, { stage: 'sink', topic });
    },
    async flush(records, run) {
      const spans = startBatchSpans(
        tracer,
        'sink.flush',
        records.map((r) => r.headers as RecordHeaders | undefined),
        { attributes: { 'cdc.batch.records': records.length } },
      );
      try {
        const result = await run();
        spans.end();
        metrics.batchSize.record(records.length, { stage: 'sink' });
        options.writes.set(true, 'writing');
        return result;
      } catch (err) {
        spans.end(err);
        throw err;
      }
    },
    async insert(table, items, insert) {
      const started = performance.now();
      const rejected = await insert();
      const insertedAt = now();
      metrics.sinkInsertDuration.record((performance.now() - started) / 1000, { table });
      const skip = new Set(rejected.map((r) => r.item));
      const perTopic = new Map<string, number>();
      for (const item of items) {
        if (skip.has(item)) continue;
        const topic = item.record.topic;
        perTopic.set(topic, (perTopic.get(topic) ?? 0) + 1);
        const committedAt = sourceCommitMs(item);
        if (committedAt !== undefined)
          metrics.endToEndLatency.record(Math.max(0, insertedAt - committedAt) / 1000, { topic });
      }
      for (const [topic, n] of perTopic) metrics.recordsOut.add(n, { stage: 'sink', topic });
      return rejected;
    },
    deadLettered(letters) {
      for (const d of letters) {
        const reason = isCdcError(d.error) ? d.error.code : 'POISON_RECORD';
        deadLettered({
          subject: `table ${d.table}`,
          topic: d.record.topic,
          reason,
          message: (d.error as Error)?.message ?? String(d.error),
        });
      }
    },
    stoppedTables(stopped) {
      for (const [table, code] of stoppedBefore)
        if (!stopped.has(table)) {
          metrics.tableStopped.set(0, { stage: 'sink', table, code });
          readiness.attention(`table ${table}`, undefined);
          stoppedBefore.delete(table);
        }
      for (const [table, err] of stopped) {
        const code = isCdcError(err) ? err.code : 'UNKNOWN';
        metrics.tableStopped.set(1, { stage: 'sink', table, code });
        readiness.attention(
          `table ${table}`,
          `stopped (its records are held, the other tables flow): ${code}: ${err.message}`,
        );
        stoppedBefore.set(table, code);
      }
    },
    error(err) {
      metrics.errors.add(1, { stage: 'sink', code: isCdcError(err) ? err.code : 'UNKNOWN' });
      options.writes.set(false, `last flush failed: ${(err as Error)?.message ?? String(err)}`);
    },
  };
}

import type { ChangeEvent } from '@cdc/core';
import type { PlainRow } from './plain-value.ts';

/** A CDC change event as the processor reads it: the envelope of `@cdc/core`, with plain values. */
export type Envelope = ChangeEvent<PlainRow>;

/** One version of an (enriched) row: its fields and the commit time of the change that made it. */
export interface RowVersion {
  row: PlainRow;
  sourceTsMs: number;
}

/** What an enrich step forwards per primary key: the row as it was and as it is (null: absent). */
export interface RowChange {
  oldValue: RowVersion | null;
  newValue: RowVersion | null;
}

/** Header carrying the source commit time through to the aggregates' outputs (for latency). */
export const SOURCE_TS_HEADER = 'cdc.source.tsMs';
/** W3C trace context headers: the trace of the source transaction, carried on to the outputs. */
export const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;

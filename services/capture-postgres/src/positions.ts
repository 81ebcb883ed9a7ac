/**
 * The position a PostgreSQL capture stores in the offsets topic (key `postgres/<name>`), in the
 * same Kafka transaction as the changes it covers. Named fields, never an untyped map:
 *
 * - `commitLsn` + `index`: the last change written (the commit record's LSN of its source
 *   transaction and its 0-based index within it); `complete` says whether that transaction
 *   was written to its end (false while a large transaction is written in chunks);
 * - `endLsn`: the end of that commit record, what the slot may be acknowledged up to once
 *   the transaction is complete;
 * - `snapshot`: the initial snapshot (its id, the slot's consistent point and the tables it
 *   covers, extended by every finished incremental or chunked table; `chunked`: the tables
 *   still read in chunks);
 * - `incremental`: the table whose incremental snapshot is under way and the last key written;
 * - `resync`: the queued resync jobs (ranges of a table to read again, `cdc verify --repair`).
 *
 * On restart every change at or before (`commitLsn`, `index`) is skipped: Kafka has it.
 */
import { type LsnText, parseLsn } from '@cdc/core';
import type { IncrementalState, ResyncJob } from './snapshot/incremental.ts';

export interface StoredPosition {
  kind: 'postgres';
  slot: string;
  commitLsn: LsnText;
  index: number;
  complete: boolean;
  endLsn: LsnText | null;
  txId: number | null;
  tsUsec: number;
  snapshot: {
    id: string;
    consistentPoint: LsnText;
    tables: string[];
    /**
     * Tables of the initial snapshot read in chunks while streaming (watermarks, like an
     * incremental snapshot), not finished yet: a table moves to `tables` when its last chunk commits.
     */
    chunked?: string[];
  } | null;
  /** The incremental snapshot in progress (a table added to the include list later). */
  incremental?: IncrementalState | null;
  /** Resync requests met in the stream and not started yet (`incremental` holds the one under way). */
  resync?: ResyncJob[];
}

export const captureId = (name: string) => `postgres/${name}`;

/** Whether the change (`finalLsn`, `index`) is already in Kafka according to `stored`. */
export function alreadyWritten(stored: StoredPosition | undefined, finalLsn: bigint, index: number): boolean {
  if (!stored) return false;
  const lsn = parseLsn(stored.commitLsn);
  if (finalLsn !== lsn) return finalLsn < lsn;
  return stored.complete || index <= stored.index;
}

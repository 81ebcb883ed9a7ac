/**
 * Snapshot rate and time left per table, from successive progress reports: rows/s since the
 * table's first report of this snapshot (a resumed snapshot starts counting at its resume point)
 * and the seconds the rows still estimated take at that rate. The PostgreSQL chunked snapshot
 * measures its own rate per chunk; every other snapshot (PostgreSQL's one-transaction snapshot,
 * MongoDB's collections) gets its rate here, so the console shows rate and ETA for all of them.
 *
 *   const meter = new SnapshotRateMeter(clock);
 *   meter.measure('public.orders', 120_000, 500_000); // { rowsPerSecond: 40000, etaSeconds: 10 }
 */
import type { Clock } from '@cdc/core';

export interface SnapshotRate {
  rowsPerSecond: number;
  etaSeconds: number;
}

export class SnapshotRateMeter {
  private readonly since = new Map<string, { at: number; rows: number; last: number }>();
  private readonly clock: Clock;
  /** Reports closer than this to the first one give no rate yet (too few rows to be a rate). */
  private readonly minMs: number;

  constructor(clock: Clock, minMs = 1_000) {
    this.clock = clock;
    this.minMs = minMs;
  }

  /**
   * The rate since the table's first report, or undefined on that first report and within
   * `minMs` of it, unless the table is done by then (a resumed snapshot may finish its last rows
   * in a moment: its rate is still shown). Fewer rows done than last time means a new snapshot of
   * the table: it starts over.
   */
  measure(table: string, rowsDone: number, rowsEstimated: number): SnapshotRate | undefined {
    const now = this.clock.now();
    const s = this.since.get(table);
    if (!s || rowsDone < s.last) {
      this.since.set(table, { at: now, rows: rowsDone, last: rowsDone });
      return undefined;
    }
    s.last = rowsDone;
    const left = Math.max(0, rowsEstimated - rowsDone);
    if (now - s.at < this.minMs && left > 0) return undefined;
    const rowsPerSecond = Math.round(((rowsDone - s.rows) * 1000) / Math.max(1, now - s.at));
    return { rowsPerSecond, etaSeconds: left === 0 ? 0 : Math.round(left / Math.max(1, rowsPerSecond)) };
  }
}

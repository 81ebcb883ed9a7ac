/**
 * The incremental snapshot's progress (a table added to the include list, or a resync asked by
 * `cdc verify --repair` or the control service) as the capture's snapshot metrics
 * (`cdc_snapshot_rows_done` / `cdc_snapshot_rows_estimated` of the table), so that `cdc status`
 * and the console's progress bar show it as they show the initial snapshot's. The estimate is
 * PostgreSQL's (`pg_class.reltuples`); once the table's last chunk is written, done = estimated.
 */
import type { PgQueryable } from '@cdc/avro';
import type { CaptureObserver } from '@cdc/capture';
import type { IncrementalState } from '../snapshot/incremental.ts';

export class IncrementalProgress {
  private current: { id: string; table: string; done: number; estimated: number } | undefined;
  private readonly catalog: PgQueryable;
  private readonly observer: CaptureObserver;

  constructor(catalog: PgQueryable, observer: CaptureObserver) {
    this.catalog = catalog;
    this.observer = observer;
  }

  /** A chunk was written: `before` the progress it belonged to, `after` the progress now, `rows` its records. */
  async chunk(before: IncrementalState | null, after: IncrementalState | null, rows: number): Promise<void> {
    // Table snapshots (the chunked initial one, a table added later) are reported by the
    // IncrementalSnapshot itself, counted across restarts; two writers of one gauge made it jump
    // between that count and this process's share.
    if (!before?.resync) return;
    if (this.current?.id !== before.id)
      this.current = {
        id: before.id,
        table: before.table,
        done: 0,
        estimated: await this.estimate(before.table),
      };
    const c = this.current;
    c.done += rows;
    const finished = after?.id !== before.id;
    this.observer.snapshotProgress(c.table, c.done, finished ? c.done : Math.max(c.estimated, c.done + 1));
    if (finished) this.current = undefined;
  }

  private async estimate(table: string): Promise<number> {
    const [schema, name] = table.includes('.')
      ? (table.split('.', 2) as [string, string])
      : ['public', table];
    try {
      const r = await this.catalog.query<{ n: string }>(
        "SELECT GREATEST(reltuples, 0)::bigint::text AS n FROM pg_class WHERE oid = to_regclass(quote_ident($1) || '.' || quote_ident($2))",
        [schema, name],
      );
      return Number(r.rows[0]?.n ?? 0);
    } catch {
      return 0; // the bar shows the rows done without a total
    }
  }
}

/**
 * What a session snapshots beside the stream, and the incremental snapshot that does it:
 * resync requests (`cdc verify --repair`; always listened to), the initial snapshot's keyed
 * tables not finished yet (a chunked initial snapshot, `snapshotOptions.chunked`), and tables of
 * the include list that no snapshot covered yet (added after the initial snapshot). Not with
 * `snapshot: never`, nor without an initial snapshot, nor for `FOR ALL TABLES` (a new table
 * streams from its creation on).
 */
import type { CaptureObserver, TopicSchemas } from '@cdc/capture';
import type { Clock, Logger } from '@cdc/core';
import type { PostgresSource } from '@cdc/pipeline';
import pg from 'pg';
import type { StoredPosition } from './positions.ts';
import { IncrementalSnapshot } from './snapshot/incremental.ts';
import type { TableTransforms } from './streaming/table-transforms.ts';

const normaliseTable = (t: string) => (t.includes('.') ? t : `public.${t}`);

/**
 * The tables to snapshot beside the stream, in order: the initial snapshot's unfinished keyed
 * tables first, then tables added to the include list; the one a stored incremental snapshot
 * was reading goes first. `added`: the tables added to the include list.
 */
export function incrementalTables(
  stored: StoredPosition | undefined,
  source: Pick<PostgresSource, 'snapshot' | 'include'>,
): { initialTables: Set<string>; pending: string[]; added: string[] } {
  const done = new Set(stored?.snapshot?.tables ?? []);
  const initialTables = new Set((stored?.snapshot?.chunked ?? []).filter((t) => !done.has(t)));
  const pending = [...initialTables];
  if (stored?.snapshot && source.snapshot !== 'never' && source.include.length > 0) {
    const covered = new Set(stored.snapshot.tables);
    pending.push(
      ...source.include.map(normaliseTable).filter((t) => !covered.has(t) && !initialTables.has(t)),
    );
  }
  const current = stored?.incremental ?? null;
  if (current && !current.resync && pending.includes(current.table)) {
    pending.splice(pending.indexOf(current.table), 1);
    pending.unshift(current.table);
  }
  return { initialTables, pending, added: pending.filter((t) => !initialTables.has(t)) };
}

export interface IncrementalSetup {
  source: PostgresSource;
  stored: StoredPosition | undefined;
  prefix: string;
  transforms: TableTransforms;
  catalog: pg.Client;
  topics: TopicSchemas;
  config: pg.ClientConfig;
  observer: CaptureObserver;
  logger: Logger;
  clock: Clock;
  /** Registers the reader connections to close when the session ends. */
  onClose(close: () => unknown): void;
}

/** The session's incremental snapshot, with reader connections for a chunked initial snapshot. */
export async function openIncrementalSnapshot(o: IncrementalSetup): Promise<IncrementalSnapshot> {
  const { source, stored, logger } = o;
  const { initialTables, pending, added } = incrementalTables(stored, source);
  if (added.length > 0)
    logger.info('tables added to the include list: incremental snapshot', { tables: added });
  // Reader connections for the initial snapshot's windows (one range each, at the same time).
  const readers: pg.Client[] = [];
  if (initialTables.size > 0) {
    logger.info('snapshot of keyed tables in chunks', {
      tables: [...initialTables],
      readers: source.snapshotOptions.parallelism,
      chunkRows: source.snapshotOptions.chunkRows,
    });
    o.onClose(async () => {
      for (const r of readers.splice(0)) await r.end().catch(() => undefined);
    });
    for (let i = 0; i < source.snapshotOptions.parallelism; i++) {
      const reader = new pg.Client(o.config);
      reader.on('error', (err) => logger.warn('snapshot reader connection error', { err }));
      await reader.connect();
      readers.push(reader);
    }
  }
  return new IncrementalSnapshot({
    name: source.name,
    db: source.connection.database,
    prefix: o.prefix,
    client: o.catalog,
    topics: o.topics,
    transforms: o.transforms,
    chunkRows: source.snapshotOptions.incrementalChunkRows,
    readers,
    initialTables,
    initialChunkRows: source.snapshotOptions.chunkRows,
    onInitialDone: () => {
      logger.info('initial snapshot finished: every keyed table is read');
      for (const r of readers.splice(0)) r.end().catch(() => undefined);
    },
    onProgress: (table, done, estimated, rate) => o.observer.snapshotProgress(table, done, estimated, rate),
    onDeadLetter: (event) => o.observer.deadLettered(event),
    pending,
    state: stored?.incremental ?? null,
    resync: stored?.resync ?? [],
    now: () => o.clock.now(),
    logger,
  });
}

/**
 * What a MongoDB capture stores in the offsets topic, in the same Kafka transaction as the
 * changes it covers. Named fields, never an untyped map:
 *
 * - key `mongo/<name>`: the position. `streams` holds one resume point per change stream
 *   (`*` for the deployment-wide stream, `<db>.<collection>` per collection otherwise): the
 *   token of the last event written (`token`, resumed with `startAfter`, which also passes an
 *   invalidate), or, before the first event, the operation time the stream starts at. `snapshot`
 *   says how far the initial snapshot got: its id (change ids of its reads derive from it, so a
 *   re-run writes the same ids) and the collections finished.
 * - key `mongo/<name>/schema/<db>.<collection>`: the collection's inferred schema state
 *   (`InferredSchemaState`), written in the transaction of the first change encoded with a new
 *   version, so that a restarted capture widens from exactly what Kafka has.
 */
import type { InferredSchemaState } from '@cdc/avro';

export interface OperationTime {
  t: number;
  i: number;
}

export interface ResumePoint {
  /** `_id._data` of the last event written (or the server's post-batch token). */
  token: string | null;
  /** Where the stream starts when it has no token yet (inclusive, as `startAtOperationTime`). */
  startAt: OperationTime | null;
  /** Cluster time of the last event written, to tell whether the server still has the history after it. */
  clusterTime: OperationTime | null;
}

export interface SnapshotProgress {
  id: string;
  /** Every collection the snapshot reads (`db.collection`). */
  collections: string[];
  /** Those finished (written and committed). */
  done: string[];
  /**
   * Per collection not done yet, where its read got to: the `_id` of the last document whose
   * records are committed (canonical Extended JSON) and how many documents that is. Collections
   * are read in `_id` order, so a restarted capture reads on after it. Absent in positions
   * written before the read was resumable: the collection is then read from its start.
   */
  readTo?: Record<string, { lastId: string; documents: number }>;
  complete: boolean;
}

export interface StoredMongoPosition {
  kind: 'mongo';
  v: 1;
  /** `deployment` or `collection` (one stream per collection): the keys of `streams`. */
  scope: 'deployment' | 'collection';
  streams: Record<string, ResumePoint>;
  snapshot: SnapshotProgress | null;
}

export const DEPLOYMENT_STREAM = '*';

export const captureId = (name: string) => `mongo/${name}`;
export const schemaStateKey = (name: string, ns: string) => `mongo/${name}/schema/${ns}`;
export const schemaStatePrefix = (name: string) => `mongo/${name}/schema/`;

export type StoredSchemaState = InferredSchemaState;

/** `{ t, i }` of a driver `Timestamp` (or anything with `high`/`low`, or `t`/`i`). */
export function operationTimeOf(ts: unknown): OperationTime | null {
  if (ts === null || typeof ts !== 'object') return null;
  const o = ts as { t?: unknown; i?: unknown; high?: unknown; low?: unknown };
  if (typeof o.high === 'number' && typeof o.low === 'number') return { t: o.high >>> 0, i: o.low >>> 0 };
  if (typeof o.t === 'number' && typeof o.i === 'number') return { t: o.t, i: o.i };
  return null;
}

export function compareTimes(a: OperationTime, b: OperationTime): number {
  return a.t !== b.t ? a.t - b.t : a.i - b.i;
}

/** The time just after `time` (start points are inclusive, positions exclusive). */
export function justAfter(time: OperationTime): OperationTime {
  return time.i >= 0xffff_ffff ? { t: time.t + 1, i: 0 } : { t: time.t, i: time.i + 1 };
}

/** `db.collection` → its two parts (collections may contain dots, databases may not). */
export function splitNamespace(ns: string): { db: string; collection: string } {
  const dot = ns.indexOf('.');
  return { db: ns.slice(0, dot), collection: ns.slice(dot + 1) };
}

/** The include list as a predicate on (db, collection); empty includes everything but the system databases. */
export function includes(include: readonly string[]): (db: string, collection: string) => boolean {
  const dbs = new Set(include.filter((e) => !e.includes('.')));
  const colls = new Set(include.filter((e) => e.includes('.')));
  return (db, collection) => {
    if (SYSTEM_DBS.has(db) || collection.startsWith('system.')) return false;
    if (include.length === 0) return true;
    return dbs.has(db) || colls.has(`${db}.${collection}`);
  };
}

export const SYSTEM_DBS = new Set(['admin', 'config', 'local']);

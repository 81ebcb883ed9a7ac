/**
 * What the capture asks the MongoDB server before it streams: which stream scope it serves,
 * which collections are included, where a new stream starts, and how far back its history goes.
 *
 * Start points, in order of preference (each server gives a different subset):
 * 1. the post-batch resume token of a stream just opened (MongoDB ≥ 4.0.7, SecantusDB);
 * 2. the `operationTime` the server reports (replica sets) — the stream starts just after it;
 * 3. the last entry of `local.oplog.rs` (mongo-java-server, which reports neither) — just after it.
 * Starting "just after the last operation the server has" is exact: nothing that happens after
 * the point is missed, nothing before it is replayed.
 */
import { CdcError, type Logger } from '@cdc/core';
import type { MongoSource } from '@cdc/pipeline';
import type { MongoClient } from 'mongodb';
import {
  DEPLOYMENT_STREAM,
  includes,
  justAfter,
  type OperationTime,
  operationTimeOf,
  type ResumePoint,
} from './position.ts';
import { openStream } from './streaming/change-streams.ts';

/** `deployment` when configured or served, else `collection`. */
export async function resolveScope(
  client: MongoClient,
  source: MongoSource,
  logger: Logger,
): Promise<'deployment' | 'collection'> {
  if (source.changeStreams !== 'auto') return source.changeStreams;
  const stream = client.watch([], { maxAwaitTimeMS: 10 });
  try {
    await stream.tryNext();
    return 'deployment';
  } catch (err) {
    logger.warn('the server serves no deployment-wide change stream; watching each collection instead', {
      reason: (err as Error).message,
    });
    return 'collection';
  } finally {
    await stream.close().catch(() => undefined);
  }
}

/** Every included collection that exists now, as `db.collection`, sorted. */
export async function listIncluded(client: MongoClient, include: readonly string[]): Promise<string[]> {
  const included = includes(include);
  const explicitDbs = new Set(include.map((e) => (e.includes('.') ? e.slice(0, e.indexOf('.')) : e)));
  const dbs =
    include.length > 0
      ? [...explicitDbs]
      : (await client.db('admin').admin().listDatabases({ nameOnly: true })).databases.map((d) => d.name);
  const out: string[] = [];
  for (const db of dbs) {
    const colls = await client.db(db).listCollections({}, { nameOnly: true }).toArray();
    for (const c of colls) {
      if ((c as { type?: string }).type === 'view') continue;
      if (included(db, c.name)) out.push(`${db}.${c.name}`);
    }
  }
  return out.sort();
}

/** The time of the newest (`-1`) or oldest (`1`) oplog entry, or null when it cannot be read. */
export async function oplogTime(client: MongoClient, order: 1 | -1): Promise<OperationTime | null> {
  try {
    const [entry] = await client
      .db('local')
      .collection('oplog.rs')
      .find({}, { projection: { ts: 1 } })
      .sort({ $natural: order })
      .limit(1)
      .toArray();
    return operationTimeOf(entry?.ts);
  } catch {
    return null;
  }
}

/** Where the stream `key` starts if it starts now. */
export async function startPoint(
  client: MongoClient,
  source: MongoSource,
  key: string,
): Promise<ResumePoint> {
  const stream = openStream(client, source, key, undefined);
  try {
    const first = await stream.tryNext();
    if (first) {
      // A change arrived at once: start at it (inclusive), so that it is streamed too.
      const at = operationTimeOf((first as { clusterTime?: unknown }).clusterTime);
      if (at) return { token: null, startAt: at, clusterTime: null };
    }
    const token = (stream.resumeToken as { _data?: string } | null)?._data;
    if (token) return { token, startAt: null, clusterTime: null };
  } finally {
    await stream.close().catch(() => undefined);
  }
  const hello = await client
    .db('admin')
    .command({ hello: 1 })
    .catch(() => undefined);
  const opTime = operationTimeOf(hello?.operationTime);
  if (opTime) return { token: null, startAt: justAfter(opTime), clusterTime: null };
  const last = await oplogTime(client, -1);
  if (last) return { token: null, startAt: justAfter(last), clusterTime: null };
  throw new CdcError(
    'SOURCE_UNSUPPORTED',
    `the server at ${source.name} gives no starting point for a change stream (no post-batch resume token, no operationTime, no readable oplog): a snapshot could not hand over to the stream without losing changes. Is it a replica set member?`,
    { context: { source: source.name, stream: key } },
  );
}

/**
 * Whether the server's history still reaches back to `point` (its oplog's oldest entry is not
 * newer than the point's last event). Unknown (oplog unreadable, no time stored) counts as yes:
 * the server then says so itself when the stream opens (ChangeStreamHistoryLost).
 */
export function historyReaches(point: ResumePoint, oldest: OperationTime | null): boolean {
  const at = point.clusterTime ?? point.startAt;
  if (!at || !oldest) return true;
  return at.t > oldest.t || (at.t === oldest.t && at.i >= oldest.i);
}

export const DEPLOYMENT = DEPLOYMENT_STREAM;

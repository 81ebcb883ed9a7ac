/**
 * The change event: a Debezium-compatible envelope, so existing tools understand it.
 *
 *   { before, after, source, op, tsMs, changeId }
 *
 * The record key is the primary key (`_id` for MongoDB); topics are named
 * `<prefix>.<db>.<schema|collection>.<table>` (see `topicFor`).
 */
import { CdcError } from './errors.ts';

/** r = snapshot read, c = create, u = update, d = delete, t = truncate. */
export const OPS = ['r', 'c', 'u', 'd', 't'] as const;
export type Op = (typeof OPS)[number];

/** Debezium's snapshot marker: where a record sits in a snapshot, or `false` when streamed. */
export type SnapshotMarker = 'true' | 'first' | 'last' | 'incremental' | 'false';

interface SourceCommon {
  /** The logical name of the capture (the topic prefix). */
  readonly name: string;
  readonly db: string;
  /** Source commit time, milliseconds since the epoch. */
  readonly tsMs: number;
  readonly snapshot: SnapshotMarker;
  readonly txId: string | null;
}

export interface PostgresSourceInfo extends SourceCommon {
  readonly connector: 'postgresql';
  readonly schema: string;
  readonly table: string;
  /** LSN of the change, as `X/Y`. */
  readonly lsn: string;
  /** LSN of its transaction's commit record; for snapshot reads, the snapshot's consistent point. */
  readonly commitLsn: string;
}

export interface MongoSourceInfo extends SourceCommon {
  readonly connector: 'mongodb';
  readonly collection: string;
  readonly resumeToken: string;
}

export type SourceInfo = PostgresSourceInfo | MongoSourceInfo;

export type Row = Record<string, unknown>;

export interface ChangeEvent<R extends Row = Row> {
  /** The row before the change: null for inserts, snapshot reads and truncates; for updates and deletes as much as the source's replica identity gives. */
  readonly before: R | null;
  /** The row after the change: null for deletes and truncates. */
  readonly after: R | null;
  readonly source: SourceInfo;
  readonly op: Op;
  /** When the capture processed the change, milliseconds since the epoch. */
  readonly tsMs: number;
  /** Deterministic from the source position: the same change has the same id on every replay. */
  readonly changeId: string;
}

/** `<prefix>.<db>.<schema|collection>.<table>` (MongoDB has no schema: `<prefix>.<db>.<collection>`). */
export function topicFor(
  prefix: string,
  source: Pick<PostgresSourceInfo, 'db' | 'schema' | 'table'> | Pick<MongoSourceInfo, 'db' | 'collection'>,
): string {
  const parts =
    'collection' in source
      ? [prefix, source.db, source.collection]
      : [prefix, source.db, source.schema, source.table];
  const topic = parts.map(sanitizeTopicPart).join('.');
  if (topic.length > 249) {
    throw new CdcError(
      'KAFKA_TOPIC_INVALID',
      `topic name ${topic.slice(0, 60)}… is ${topic.length} characters; Kafka allows 249. Use a shorter prefix`,
      {
        context: { topic },
      },
    );
  }
  return topic;
}

/** Kafka topic names allow [a-zA-Z0-9._-]; anything else becomes `_`. */
export function sanitizeTopicPart(part: string): string {
  if (part.length === 0)
    throw new CdcError('KAFKA_TOPIC_INVALID', 'empty topic name part (db, schema, table or prefix)');
  return part.replace(/[^a-zA-Z0-9_-]/g, '_');
}

/** Checks the envelope's invariants (which of before/after each op carries); throws a `CdcError` naming the broken rule. */
export function assertValidChangeEvent(event: ChangeEvent): void {
  const fail = (rule: string) => {
    throw new CdcError('INVARIANT_VIOLATED', `change ${event.changeId} (op ${event.op}): ${rule}`, {
      context: { changeId: event.changeId, op: event.op },
    });
  };
  if (!OPS.includes(event.op)) fail(`op must be one of ${OPS.join(', ')}`);
  if (!event.changeId) fail('changeId is empty');
  switch (event.op) {
    case 'r':
    case 'c':
      if (event.after === null) fail('after is required');
      if (event.before !== null) fail('before must be null');
      break;
    case 'u':
      if (event.after === null) fail('after is required');
      break;
    case 'd':
      if (event.after !== null) fail('after must be null');
      break;
    case 't':
      if (event.before !== null || event.after !== null) fail('before and after must be null');
      break;
  }
}

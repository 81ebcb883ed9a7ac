/**
 * Source positions: where a change sits in its source's log, with explicit named fields (never
 * an untyped map). They are stored in Kafka with the data they describe and decide both where
 * a restarted capture resumes and the deterministic `changeId` of every change.
 */
import { createHash } from 'node:crypto';

/** A PostgreSQL log sequence number as PostgreSQL prints it: `16/B374D848`. */
export type LsnText = string;

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function parseLsn(text: LsnText): bigint {
  const m = LSN.exec(text);
  if (!m)
    throw new RangeError(
      `not a PostgreSQL LSN: ${JSON.stringify(text)} (expected two hex numbers like 16/B374D848)`,
    );
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): LsnText {
  if (lsn < 0n || lsn > 0xffff_ffff_ffff_ffffn) throw new RangeError(`LSN out of range: ${lsn}`);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

export interface PostgresPosition {
  readonly kind: 'postgres';
  /** LSN of the source transaction's commit record (pgoutput Begin's final LSN): all its changes share it. For snapshot reads, the snapshot's consistent point. */
  readonly commitLsn: LsnText;
  /** LSN of this change's own WAL record. */
  readonly lsn: LsnText;
  /** 0-based index of the change within its transaction (orders changes sharing a commit LSN). */
  readonly index: number;
  readonly txId: number | null;
  /** Commit time in microseconds since the epoch (PostgreSQL's resolution). */
  readonly tsUsec: number;
  /** Set while the change comes from the initial (or an incremental) snapshot. */
  readonly snapshot: boolean;
}

export interface MongoPosition {
  readonly kind: 'mongo';
  /** The change stream's resume token (`_id._data`, hex), opaque to us and resumable by the server. */
  readonly resumeToken: string;
  /** The operation's cluster time: seconds and increment of the BSON timestamp. */
  readonly clusterTime: { readonly t: number; readonly i: number } | null;
  readonly snapshot: boolean;
}

export type SourcePosition = PostgresPosition | MongoPosition;

/** Orders two PostgreSQL positions as the source committed them: by commit LSN, then index. */
export function comparePostgresPositions(a: PostgresPosition, b: PostgresPosition): number {
  const byCommit = parseLsn(a.commitLsn) - parseLsn(b.commitLsn);
  if (byCommit !== 0n) return byCommit < 0n ? -1 : 1;
  return a.index - b.index;
}

/**
 * The change id of a streamed PostgreSQL change: the same change gets the same id on every
 * replay. 16 hex digits of commit LSN and 8 of the index, so ids sort in commit order.
 */
export function postgresChangeId(position: Pick<PostgresPosition, 'commitLsn' | 'index'>): string {
  const lsn = parseLsn(position.commitLsn).toString(16).padStart(16, '0');
  return `${lsn}-${position.index.toString(16).padStart(8, '0')}`;
}

/** The change id of a MongoDB change: its resume token is already unique and stable per event. */
export function mongoChangeId(position: Pick<MongoPosition, 'resumeToken'>): string {
  return position.resumeToken;
}

/**
 * The change id of a snapshot read: stable for the same snapshot of the same row, so a
 * snapshot chunk that is written again after a crash deduplicates downstream.
 */
export function snapshotChangeId(snapshotId: string, table: string, key: unknown): string {
  const h = createHash('sha256')
    .update(snapshotId)
    .update('\0')
    .update(table)
    .update('\0')
    .update(stableJson(key));
  return `snap-${h.digest('hex').slice(0, 32)}`;
}

/** JSON with object keys sorted, so equal values always serialise equally. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return v;
  });
}

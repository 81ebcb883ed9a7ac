/**
 * Source positions: where a change sits in its source's log, with explicit named fields (never
 * an untyped map). They are stored in Kafka with the data they describe and decide both where
 * a restarted capture resumes and the deterministic `changeId` of every change.
 */
import { createHash } from 'node:crypto';
import { CdcError } from './errors.ts';

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
  return postgresChangeIdAt(lsnHex(parseLsn(position.commitLsn)), position.index);
}

/** An LSN as the 16 hex digits of a change id. */
export function lsnHex(lsn: bigint): string {
  return lsn.toString(16).padStart(16, '0');
}

/** `postgresChangeId` from the commit LSN's `lsnHex` (a capture computes it once per transaction). */
export function postgresChangeIdAt(commitLsnHex: string, index: number): string {
  return `${commitLsnHex}-${index.toString(16).padStart(8, '0')}`;
}

const POSTGRES_CHANGE_ID = /^([0-9a-f]{16})-([0-9a-f]{8})$/;

/** What a change id says: a streamed PostgreSQL change's position, or nothing to order by. */
export type ParsedChangeId =
  | { readonly kind: 'postgres'; readonly commitLsn: bigint; readonly index: number }
  | { readonly kind: 'snapshot' }
  | { readonly kind: 'opaque' };

export function parseChangeId(changeId: string): ParsedChangeId {
  const m = POSTGRES_CHANGE_ID.exec(changeId);
  if (m) return { kind: 'postgres', commitLsn: BigInt(`0x${m[1]}`), index: Number.parseInt(m[2]!, 16) };
  return changeId.startsWith('snap-') ? { kind: 'snapshot' } : { kind: 'opaque' };
}

/**
 * The version of a PostgreSQL change in the native envelope: the number a ClickHouse
 * ReplacingMergeTree keeps the highest of, per key. It grows with every change of a key and is
 * the same on every replay, because it comes from the source position, never from the clock:
 *
 * - a streamed change (changeId `<16 hex commit LSN>-<8 hex index>`):
 *   `commitLsn · 2^33 + index · 2 + 1`. Commit order is the order PostgreSQL applied the
 *   changes; within one transaction the index orders them;
 * - a snapshot read (`op: 'r'`): `snapshotLsn · 2^33`, where the capture puts the snapshot's
 *   consistent point in `source.commitLsn` (falling back to `source.lsn`). Every change streamed
 *   after the snapshot commits after that point, so it gets a higher version; a change committed
 *   at the same LSN still wins through the low bit.
 */
export function postgresVersionOf(event: {
  changeId: string;
  op: string;
  source: { commitLsn?: string; lsn?: string; snapshot?: string };
}): bigint {
  const id = parseChangeId(event.changeId);
  if (id.kind === 'postgres' && event.op !== 'r')
    return (id.commitLsn << 33n) | (BigInt(id.index) << 1n) | 1n;
  const lsn = event.source.commitLsn ?? event.source.lsn;
  if (event.op === 'r' && lsn !== undefined) {
    try {
      return parseLsn(lsn) << 33n;
    } catch {
      // falls through to the error below
    }
  }
  throw new CdcError(
    'POISON_RECORD',
    `change ${event.changeId} (op ${event.op}) carries no usable position: a streamed change needs a changeId <commit LSN>-<index>, a snapshot read an X/Y source.commitLsn`,
    { context: { changeId: event.changeId, op: event.op } },
  );
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

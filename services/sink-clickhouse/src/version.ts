/**
 * `_version`: the number ReplacingMergeTree keeps the highest of, per key. It must grow with
 * every change of a key and be the same on every replay, so it comes from the source position,
 * never from the clock. A UInt128:
 *
 * - PostgreSQL, streamed change (changeId `<16 hex commit LSN>-<8 hex index>`):
 *   `commitLsn · 2^33 + index · 2 + 1`. Commit order is the order PostgreSQL applied the
 *   changes; within one transaction the index orders them.
 * - PostgreSQL, snapshot read (`op: 'r'`): `snapshotLsn · 2^33`, where the capture puts the
 *   snapshot's consistent point in `source.commitLsn` (falling back to `source.lsn`). Every
 *   change streamed after the snapshot commits after that point, so it gets a higher version;
 *   a change committed at the same LSN still wins through the low bit.
 * - MongoDB and aggregate (non-envelope) topics: the Kafka offset plus one (never 0: `t_current`
 *   keeps rows whose version is above the table's last truncation, 0 when it has none). A key always lands in the
 *   same partition and the capture/processor writes a key's changes in order, so offsets grow
 *   per key, and a replay of the topic reads the same offsets. (The change stream's cluster
 *   time is not in the envelope — `source.tsMs` has only milliseconds — and resume tokens are
 *   opaque, so they cannot be compared.) The snapshot of a collection is written before its
 *   stream, so it gets lower offsets. Caveat: copying the topic elsewhere renumbers offsets:
 *   rebuild from the topic, not from a copy.
 */
import { CdcError, parseLsn } from '@cdc/core';

const STREAMED_ID = /^([0-9a-f]{16})-([0-9a-f]{8})$/;

export type VersionSource = 'postgres-lsn' | 'kafka-offset';

export interface PostgresVersionInput {
  changeId: string;
  op: string;
  source: { commitLsn?: string; lsn?: string; snapshot?: string };
}

export function postgresVersion(event: PostgresVersionInput): bigint {
  const m = STREAMED_ID.exec(event.changeId);
  if (m && event.op !== 'r') return (BigInt(`0x${m[1]}`) << 33n) | (BigInt(`0x${m[2]}`) << 1n) | 1n;
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

export function offsetVersion(offset: string): bigint {
  return BigInt(offset) + 1n;
}

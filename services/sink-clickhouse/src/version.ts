/**
 * `_version`: the number ReplacingMergeTree keeps the highest of, per key. It must grow with
 * every change of a key and be the same on every replay, so it comes from the source position,
 * never from the clock. A UInt128:
 *
 * - PostgreSQL, native envelope: `postgresVersionOf` of `@cdc/core`, from the change id and the
 *   commit LSN (the format's one home).
 * - MongoDB and aggregate (non-envelope) topics: the Kafka offset plus one (never 0: `t_current`
 *   keeps rows whose version is above the table's last truncation, 0 when it has none). A key always lands in the
 *   same partition and the capture/processor writes a key's changes in order, so offsets grow
 *   per key, and a replay of the topic reads the same offsets. (The change stream's cluster
 *   time is not in the envelope — `source.tsMs` has only milliseconds — and resume tokens are
 *   opaque, so they cannot be compared.) The snapshot of a collection is written before its
 *   stream, so it gets lower offsets. Caveat: copying the topic elsewhere renumbers offsets:
 *   rebuild from the topic, not from a copy.
 * - Debezium's PostgreSQL envelope (genuine Debezium topics, `envelope: debezium` captures):
 *   `source.lsn` is the LSN of the change's own WAL record and `source.sequence`
 *   `["<last commit LSN>","<lsn>"]` names the last commit the connector had seen before it.
 *   The change's position is the larger of the two: a key's later change (serialized by
 *   PostgreSQL's row locks, so committed after the earlier one) always has the higher one.
 *   Streamed change: `position · 2^64 + lsn · 2 + 1`. Snapshot read: `lsn · 2^64` with the
 *   snapshot's LSN, so that a change streamed after it wins — also one whose WAL record precedes
 *   the snapshot point but whose transaction committed after it (its last-commit LSN is at or
 *   past the point) — and a snapshot taken again later (a connector restarted before its first
 *   snapshot was recorded as complete) wins over every change streamed before it.
 */
import { CdcError, postgresVersionOf } from '@cdc/core';

export type { VersionSource } from '@cdc/clickhouse';

/** The version of a change of the native PostgreSQL envelope (see `postgresVersionOf`). */
export const postgresVersion = postgresVersionOf;

export function offsetVersion(offset: string): bigint {
  return BigInt(offset) + 1n;
}

export interface DebeziumVersionInput {
  op: string;
  source: { lsn?: unknown; snapshot?: unknown; sequence?: unknown };
}

function lsnOf(raw: unknown): bigint | undefined {
  if (typeof raw === 'bigint') return raw >= 0n ? raw : undefined;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return BigInt(raw);
  if (typeof raw === 'string' && /^\d+$/.test(raw)) return BigInt(raw);
  return undefined;
}

/** The last commit LSN in Debezium's `source.sequence` (`["<last commit LSN>","<lsn>"]`), 0 when absent. */
function lastCommitOf(sequence: unknown): bigint {
  if (typeof sequence !== 'string') return 0n;
  try {
    const parsed = JSON.parse(sequence) as unknown;
    return (Array.isArray(parsed) ? lsnOf(parsed[0]) : undefined) ?? 0n;
  } catch {
    return 0n;
  }
}

export function debeziumPostgresVersion(event: DebeziumVersionInput): bigint {
  const lsn = lsnOf(event.source.lsn);
  if (lsn === undefined) {
    throw new CdcError(
      'POISON_RECORD',
      `a Debezium change (op ${event.op}) without source.lsn: the sink orders a key's changes by it; check that the topic is written by Debezium's PostgreSQL connector`,
      { context: { op: event.op } },
    );
  }
  const snapshot = typeof event.source.snapshot === 'string' ? event.source.snapshot : 'false';
  if (event.op === 'r' && snapshot !== 'incremental' && snapshot !== 'false') return lsn << 64n;
  const lastCommit = lastCommitOf(event.source.sequence);
  // biome-ignore lint/complexity/useMathMinMax: bigints (Math.max takes numbers)
  const position = lastCommit > lsn ? lastCommit : lsn;
  return (position << 64n) | (lsn << 1n) | (event.op === 'r' ? 0n : 1n);
}

/** `_change_id` of a Debezium change: its LSN (unique per streamed change), or its place in the topic for snapshot reads. */
export function debeziumChangeId(
  event: DebeziumVersionInput,
  record: { partition: number; offset: string },
): string {
  if (event.op !== 'r' && (typeof event.source.lsn === 'number' || typeof event.source.lsn === 'bigint'))
    return `lsn-${BigInt(event.source.lsn).toString(16).padStart(16, '0')}`;
  return `snap-${record.partition}-${record.offset}`;
}

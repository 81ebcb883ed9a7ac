/**
 * Which committed transactions a snapshot read saw: the MVCC snapshot of a window's reads
 * (`pg_current_snapshot()`, text `xmin:xmax:xip,…`), asked about the 32-bit xid that pgoutput
 * gives each streamed transaction.
 *
 * Why the watermark merge needs it: PostgreSQL writes a transaction's commit record into the WAL
 * before it makes the transaction visible to new snapshots, and other transactions can commit
 * (and be visible) in that gap. So a transaction T can come BEFORE the window's LOW watermark in
 * the stream and still be invisible to a read whose snapshot was taken after LOW committed: on a
 * loaded machine T's backend is descheduled between its WAL flush and its ProcArray update. The
 * read then returns the row as it was before T, the stream has already written T before the
 * window, and the read (versioned at HIGH) would undo T in the replica. A streamed change before
 * LOW whose transaction a read did not see must therefore drop its key from the window, like a
 * change between the watermarks does.
 */

/** A committed transaction id (pgoutput's 32-bit xid) → whether the read's snapshot saw it. */
export type SawTransaction = (xid: number) => boolean;

/** `a` comes before `b` in PostgreSQL's circular 32-bit xid space. */
const precedes = (a: number, b: number): boolean => ((a - b) | 0) < 0;

/** The 32-bit xid of an xid8 in decimal text (pg_snapshot's values carry the epoch). */
const xid32 = (text: string): number => Number(BigInt(text) & 0xffffffffn);

/**
 * Parses `pg_current_snapshot()::text` and tells, for a transaction known to have committed,
 * whether the snapshot saw it: before `xmin` it did; from `xmax` on it did not; in between it did
 * unless it is in the snapshot's in-progress list.
 */
export function snapshotSaw(snapshot: string): SawTransaction {
  const m = /^(\d+):(\d+):([\d,]*)$/.exec(snapshot.trim());
  if (!m) throw new Error(`not a pg_snapshot: ${JSON.stringify(snapshot)}`);
  const xmin = xid32(m[1] as string);
  const xmax = xid32(m[2] as string);
  const running = new Set((m[3] as string).split(',').filter(Boolean).map(xid32));
  return (xid) => {
    if (precedes(xid, xmin)) return true;
    if (!precedes(xid, xmax)) return false;
    return !running.has(xid);
  };
}

/** Whether every one of the snapshots saw the transaction (a window read on several connections). */
export function allSaw(snapshots: readonly string[]): SawTransaction {
  const saw = snapshots.map(snapshotSaw);
  return (xid) => saw.every((s) => s(xid));
}

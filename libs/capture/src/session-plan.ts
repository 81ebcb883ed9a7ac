/**
 * The session plan: what a capture session does before it streams, decided from three facts
 * (the snapshot mode, what the offsets topic holds, whether the source still keeps the history
 * after it) and nothing else. Pure, so every branch is a unit test (`session-plan.test.ts`);
 * the connector carries the steps out (`CaptureConnector`), the coordinator walks them.
 *
 * | mode | stored position | history | steps |
 * |---|---|---|---|
 * | any but `when_needed` | any | lost | fail (the history is gone) |
 * | `when_needed` | any | lost | discard history, start with a snapshot, stream |
 * | `never` | any | absent | start without a snapshot, stream |
 * | `never` | any | kept / in use | stream (after the rest of an unfinished snapshot) |
 * | other | none | kept | discard (an interrupted snapshot's), start with a snapshot, stream |
 * | other | none | in use | fail, retriable (another process holds it) |
 * | other | none | absent | start with a snapshot, stream |
 * | other | stored | absent | `when_needed`: start with a snapshot, stream; else fail |
 * | `initial_only` | snapshot taken | kept | finish |
 * | other | snapshot unfinished | kept | snapshot (continue it), stream |
 * | other | stored | kept | stream |
 *
 * `initial_only` ends every plan that took a snapshot with `discard` (the slot is not needed
 * any more) and `finish` instead of `stream`.
 */

/** The pipeline file's `snapshot` key (MongoDB has no `initial_only`). */
export type SnapshotMode = 'initial' | 'initial_only' | 'when_needed' | 'never';

/**
 * Whether the source still keeps its history after the stored position: PostgreSQL's
 * replication slot, MongoDB's oplog. `absent`: there is no slot; `in-use`: another process
 * streams from it; `lost`: it exists but the changes after the stored position are gone.
 */
export type History = 'kept' | 'absent' | 'in-use' | 'lost';

export interface SessionFacts {
  mode: SnapshotMode;
  /**
   * What the offsets topic holds: nothing, or a position with whether an initial snapshot was
   * taken (`snapshotTaken`) and whether a snapshot was started and is not finished yet
   * (`snapshotUnfinished`, a MongoDB snapshot continues where it stopped).
   */
  stored: null | { snapshotTaken: boolean; snapshotUnfinished?: boolean };
  history: History;
}

/** Why the source's history is dropped. */
export type DiscardReason = 'history-lost' | 'interrupted-snapshot' | 'initial-only-done';

/** Why a session cannot go on. */
export type FailReason = 'history-lost' | 'history-absent' | 'history-in-use';

export type SessionStep =
  /** Drop the source's history keeper (PostgreSQL: the slot; MongoDB: the stored start points). */
  | { do: 'discard'; why: DiscardReason }
  /** Make a new start position (slot, resume points) at the source's current point; with `snapshot`, one an initial snapshot reads consistently. */
  | { do: 'start'; snapshot: boolean }
  /** Read the initial snapshot (or the rest of an unfinished one) and commit its position. */
  | { do: 'snapshot' }
  /** Stream until stopped. */
  | { do: 'stream' }
  /** The work is done (`initial_only`): the session ends and no new one starts. */
  | { do: 'finish'; why: 'snapshot-taken' | 'snapshot-done' }
  /** Stop: restarting helps only when `retriable`. */
  | { do: 'fail'; why: FailReason; retriable: boolean };

/** The steps of one session, in order; the last is `stream`, `finish` or `fail`. */
export function planSession(facts: SessionFacts): SessionStep[] {
  const { mode, stored } = facts;
  let { history } = facts;
  const steps: SessionStep[] = [];
  if (history === 'lost') {
    if (mode !== 'when_needed') return [{ do: 'fail', why: 'history-lost', retriable: false }];
    steps.push({ do: 'discard', why: 'history-lost' });
    history = 'absent';
  }
  if (mode === 'never') {
    if (history === 'absent') steps.push({ do: 'start', snapshot: false });
    // A snapshot started before the mode became `never` is finished first.
    else if (stored?.snapshotUnfinished) steps.push({ do: 'snapshot' });
    steps.push({ do: 'stream' });
    return steps;
  }
  let snapshot = false;
  if (!stored) {
    // Nothing committed: a slot here is the leftover of an interrupted snapshot.
    if (history === 'in-use') return [{ do: 'fail', why: 'history-in-use', retriable: true }];
    if (history === 'kept') steps.push({ do: 'discard', why: 'interrupted-snapshot' });
    steps.push({ do: 'start', snapshot: true });
    snapshot = true;
  } else if (history === 'absent') {
    if (mode !== 'when_needed') return [{ do: 'fail', why: 'history-absent', retriable: false }];
    steps.push({ do: 'start', snapshot: true });
    snapshot = true;
  } else if (mode === 'initial_only' && stored.snapshotTaken) {
    return [{ do: 'finish', why: 'snapshot-taken' }];
  } else if (stored.snapshotUnfinished) {
    snapshot = true;
  }
  if (snapshot) steps.push({ do: 'snapshot' });
  if (snapshot && mode === 'initial_only') {
    steps.push({ do: 'discard', why: 'initial-only-done' }, { do: 'finish', why: 'snapshot-done' });
    return steps;
  }
  steps.push({ do: 'stream' });
  return steps;
}

import { describe, expect, it } from 'vitest';
import { planSession, type SessionFacts } from './session-plan.ts';

const plan = (facts: SessionFacts) => planSession(facts).map((s) => Object.values(s).join(':'));
const stored = { snapshotTaken: true };

describe('planSession', () => {
  it('a first start takes a snapshot, then streams', () => {
    expect(plan({ mode: 'initial', stored: null, history: 'absent' })).toEqual([
      'start:true',
      'snapshot',
      'stream',
    ]);
  });

  it('a slot left by an interrupted snapshot is dropped and the snapshot starts again', () => {
    expect(plan({ mode: 'initial', stored: null, history: 'kept' })).toEqual([
      'discard:interrupted-snapshot',
      'start:true',
      'snapshot',
      'stream',
    ]);
  });

  it('a slot another process streams from: a retriable failure', () => {
    expect(plan({ mode: 'when_needed', stored: null, history: 'in-use' })).toEqual([
      'fail:history-in-use:true',
    ]);
  });

  it('a stored position with its history resumes streaming', () => {
    for (const mode of ['initial', 'when_needed', 'never'] as const)
      expect(plan({ mode, stored, history: 'kept' })).toEqual(['stream']);
  });

  it('lost history stops the capture unless the mode is when_needed', () => {
    for (const mode of ['initial', 'initial_only', 'never'] as const)
      expect(plan({ mode, stored, history: 'lost' })).toEqual(['fail:history-lost:false']);
    expect(plan({ mode: 'when_needed', stored, history: 'lost' })).toEqual([
      'discard:history-lost',
      'start:true',
      'snapshot',
      'stream',
    ]);
  });

  it('a vanished slot behind a stored position: a new snapshot only with when_needed', () => {
    expect(plan({ mode: 'initial', stored, history: 'absent' })).toEqual(['fail:history-absent:false']);
    expect(plan({ mode: 'when_needed', stored, history: 'absent' })).toEqual([
      'start:true',
      'snapshot',
      'stream',
    ]);
  });

  it('never: no snapshot, a slot made when there is none', () => {
    expect(plan({ mode: 'never', stored: null, history: 'absent' })).toEqual(['start:false', 'stream']);
    expect(plan({ mode: 'never', stored: null, history: 'kept' })).toEqual(['stream']);
    expect(plan({ mode: 'never', stored, history: 'absent' })).toEqual(['start:false', 'stream']);
  });

  it('an unfinished snapshot is continued before streaming (MongoDB)', () => {
    const unfinished = { snapshotTaken: false, snapshotUnfinished: true };
    expect(plan({ mode: 'initial', stored: unfinished, history: 'kept' })).toEqual(['snapshot', 'stream']);
    expect(plan({ mode: 'never', stored: unfinished, history: 'kept' })).toEqual(['snapshot', 'stream']);
  });

  it('initial_only: snapshot, drop the slot, finish; once taken, finish at once', () => {
    expect(plan({ mode: 'initial_only', stored: null, history: 'absent' })).toEqual([
      'start:true',
      'snapshot',
      'discard:initial-only-done',
      'finish:snapshot-done',
    ]);
    expect(plan({ mode: 'initial_only', stored, history: 'kept' })).toEqual(['finish:snapshot-taken']);
    expect(plan({ mode: 'initial_only', stored: { snapshotTaken: false }, history: 'kept' })).toEqual([
      'stream',
    ]);
  });
});

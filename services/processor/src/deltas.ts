import type { AggregateDeclaration } from '@cdc/pipeline';
import { andThen, type ProcessorContext, type ProcessorSupplier } from '@cdc/streams';
import { type Delta, inputsOf } from './aggregation-state.ts';
import type { RowChange, RowVersion } from './change.ts';
import { compileFilter } from './filter.ts';
import { canonicalKey, type PlainValue, samePlain } from './plain-value.ts';

interface Contribution {
  group: string;
  eventTime: number;
  inputs: PlainValue[];
}

/** Whether a change leaves a row's contribution as it was (same group, event time and inputs). */
function sameContribution(a: Contribution, b: Contribution): boolean {
  if (a.group !== b.group || a.eventTime !== b.eventTime || a.inputs.length !== b.inputs.length) return false;
  for (let i = 0; i < a.inputs.length; i++)
    if (!samePlain(a.inputs[i] ?? null, b.inputs[i] ?? null)) return false;
  return true;
}

/** A row's event time: its source commit time, or a timestamp field (ms, or ISO text). */
export function eventTimeOf(decl: AggregateDeclaration, version: RowVersion): number | null {
  if (decl.eventTime === 'source') return version.sourceTsMs;
  const v = version.row[decl.eventTime.field];
  if (typeof v === 'number') return Math.floor(v);
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

/**
 * Turns per-key row changes into what the aggregation adds and takes out: the old version's
 * contribution leaves its group and window (a retraction, stamped with the old event time so
 * that it lands in the old windows), the new version's enters its own. A version that the filter
 * rejects, or without an event time, contributes nothing. Session windows aggregate activity:
 * each change with a new version is one event, and nothing is retracted (a retraction cannot
 * split a session).
 */
export function deltaProcessor(
  decl: AggregateDeclaration,
): ProcessorSupplier<string, RowChange, string, Delta> {
  const passes = compileFilter(decl.filter);
  const sessions = decl.window?.type === 'session';
  const contribution = (version: RowVersion | null): Contribution | null => {
    if (version === null || !passes(version.row)) return null;
    const eventTime = eventTimeOf(decl, version);
    if (eventTime === null) return null;
    return {
      group: canonicalKey(decl.groupBy.map((f) => version.row[f] ?? null)),
      eventTime,
      inputs: inputsOf(decl.aggregations, version.row),
    };
  };
  return () => {
    let ctx: ProcessorContext<string, Delta>;
    return {
      init(c) {
        ctx = c;
      },
      process(r) {
        const next = contribution(r.value.newValue);
        const add = () =>
          next
            ? ctx.forward({
                ...r,
                key: next.group,
                value: { s: 1, v: next.inputs },
                timestamp: next.eventTime,
              })
            : undefined;
        if (sessions) return add();
        const old = contribution(r.value.oldValue);
        if (old && next && sameContribution(old, next)) return;
        if (!old) return add();
        // Synchronous when the children are: no promise per record.
        return andThen(
          ctx.forward({ ...r, key: old.group, value: { s: -1, v: old.inputs }, timestamp: old.eventTime }),
          add,
        );
      },
    };
  };
}

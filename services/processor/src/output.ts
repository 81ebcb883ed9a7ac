import type { AggregateDeclaration } from '@cdc/pipeline';
import type { ProcessorContext, ProcessorSupplier, Serde, Windowed } from '@cdc/streams';
import { type AggregationResult, type GroupState, results, type TopEntry } from './aggregation-state.ts';
import { type Decimal, toAvroBytes, toText } from './decimal.ts';
import type { QueryRegistry } from './query-registry.ts';

/** An aggregate's output value, before encoding: decimals as `Decimal`. */
export type OutputRecord = Record<string, AggregationResult | string | number | null>;

/** The group key (JSON array text) back to its values. */
export function groupValues(groupKey: string): (string | null)[] {
  return JSON.parse(groupKey) as (string | null)[];
}

/** The output record of a group (and window) state; `null` when the group is empty. */
export function outputRecord(
  decl: AggregateDeclaration,
  groupKey: string,
  window: { start: number; end: number } | undefined,
  state: GroupState | null,
  emittedAtMs: number,
): OutputRecord | null {
  if (state === null || state.n <= 0) return null;
  const out: OutputRecord = {};
  if (window) {
    out.windowStartMs = window.start;
    out.windowEndMs = window.end;
  }
  const values = groupValues(groupKey);
  decl.groupBy.forEach((g, i) => {
    out[g] = values[i] ?? null;
  });
  const r = results(decl.aggregations, state);
  decl.aggregations.forEach((a, i) => {
    out[a.name] = r[i] ?? null;
  });
  out.emittedAtMs = emittedAtMs;
  return out;
}

/** The output key (`outputKeySchema`): the group's values as JSON text and the window start. */
export interface OutputKey {
  group: string;
  windowStartMs?: number;
}

export function outputKey(groupKey: string, window: { start: number } | undefined): OutputKey {
  return window ? { group: groupKey, windowStartMs: window.start } : { group: groupKey };
}

/** JSON output keys: for tests, and a pipeline without a registry. */
export function jsonOutputKeySerde(): Serde<OutputKey> {
  return {
    serialize: (_t, k) => (k === null ? null : Buffer.from(JSON.stringify(k), 'utf8')),
    deserialize: (_t, d) => (d === null ? null : (JSON.parse(d.toString('utf8')) as OutputKey)),
  };
}

const isDecimal = (v: unknown): v is Decimal => typeof v === 'object' && v !== null && 'unscaled' in v;

/** The record as Avro values of `outputSchema(decl)`: decimals as bytes at their declared scale. */
export function toAvroValue(decl: AggregateDeclaration, record: OutputRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { ...record };
  for (const a of decl.aggregations) {
    const v = record[a.name];
    if (a.fn === 'top') {
      out[a.name] = (v as TopEntry[]).map((e) => ({ ...e, value: toAvroBytes(e.value, a.scale) }));
    } else if (isDecimal(v)) out[a.name] = toAvroBytes(v, a.scale);
  }
  return out;
}

/** The record as JSON (decimals as text), for tests and interactive queries. */
export function toJsonValue(record: OutputRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) {
    if (isDecimal(v)) out[k] = toText(v);
    else if (Array.isArray(v)) out[k] = v.map((e) => ({ ...e, value: toText(e.value) }));
    else out[k] = v;
  }
  return out;
}

/** JSON output values (decimals as text): for tests, and a pipeline without a registry. */
export function jsonOutputSerde(): Serde<OutputRecord> {
  return {
    serialize: (_t, v) => (v === null ? null : Buffer.from(JSON.stringify(toJsonValue(v)), 'utf8')),
    deserialize: (_t, d) => (d === null ? null : (JSON.parse(d.toString('utf8')) as OutputRecord)),
  };
}

/**
 * The last step of an aggregate: group state → output record, a tombstone where a group (and
 * window) became empty. It also hands the aggregate's store of this task to the interactive
 * queries.
 */
export function outputProcessor(
  decl: AggregateDeclaration,
  now: () => number,
  queries: QueryRegistry | undefined,
): ProcessorSupplier<Windowed<string> | string, GroupState | null, OutputKey, OutputRecord | null> {
  return () => {
    let ctx: ProcessorContext<OutputKey, OutputRecord | null>;
    let partition = 0;
    return {
      init(c) {
        ctx = c;
        partition = c.partition;
        queries?.register(decl.name, partition, c.getStateStore(decl.name));
      },
      async process(r) {
        const windowed = decl.window ? (r.key as Windowed<string>) : undefined;
        const groupKey = windowed ? windowed.key : (r.key as string);
        // A group (and window) with nothing left is a tombstone, also after `on-close`: a
        // correction can empty a window already emitted (the sink then deletes its row).
        const value = outputRecord(decl, groupKey, windowed?.window, r.value, now());
        await ctx.forward({ ...r, key: outputKey(groupKey, windowed?.window), value });
      },
      close() {
        queries?.unregister(decl.name, partition);
      },
    };
  };
}

import type { EnrichDeclaration, EnrichJoin } from '@cdc/pipeline';
import type { KeyValueStore, ProcessorContext, ProcessorSupplier, StreamRecord } from '@cdc/streams';
import { type Envelope, type RowChange, type RowVersion, SOURCE_TS_HEADER, TRACE_HEADERS } from './change.ts';
import { canonicalKey, type PlainRow, samePlain } from './plain-value.ts';

/** How many decoded last versions an enrich task keeps beside its store (see `recent`). */
const RECENT_ROWS = 50_000;

/** `[output, source]` pairs of a field selection (a list keeps the names). */
export function selectionPairs(selection: readonly string[] | Record<string, string>): [string, string][] {
  return Array.isArray(selection) ? selection.map((f) => [f, f]) : Object.entries(selection);
}

export interface EnrichPlan {
  decl: EnrichDeclaration;
  /** The store of the last enriched version per primary key. */
  rowsStore: string;
  /** Global store name per joined table topic. */
  tableStores: Map<string, string>;
  /** The output fields to keep (those read downstream, see `fieldsUsed`); undefined: all. */
  keep?: readonly string[] | undefined;
}

/** What an enrich step copies from the stream's `after` and which joins it looks up. */
function compilePlan(plan: EnrichPlan) {
  const { decl } = plan;
  const keep = plan.keep === undefined ? undefined : new Set(plan.keep);
  const kept = (pairs: [string, string][]) => (keep ? pairs.filter(([o]) => keep.has(o)) : pairs);
  // All of the stream's fields, or the selected ones; either way only those kept. (A kept field
  // that a join fills is set here first and then overwritten by the join, as before.)
  const own = decl.fields
    ? kept(selectionPairs(decl.fields))
    : plan.keep === undefined
      ? undefined
      : plan.keep.map((f): [string, string] => [f, f]);
  const joins = decl.join
    .map((j: EnrichJoin) => ({
      join: j,
      store: plan.tableStores.get(j.table) as string,
      on: j.on === undefined ? undefined : Array.isArray(j.on) ? j.on : [j.on],
      fields: kept(selectionPairs(j.fields)),
    }))
    // A left join whose fields nobody reads changes nothing; an inner one still drops unmatched rows.
    .filter((j) => j.join.type === 'inner' || j.fields.length > 0);
  return { own, joins };
}

type Joins = ReturnType<typeof compilePlan>['joins'];
/** The enriched row of a change's `after`, or null (an inner join without a match). */
type EnrichRow = (key: string, after: PlainRow) => PlainRow | null;

/**
 * The enrich step's row function for these fields and joins, as generated straight-line code:
 * each field is read and written by a name that is a constant of the code (`out["region"] =
 * after["region"] ?? null`), so the reads and stores are by name and every row gets the same
 * hidden class; a loop over the `[output, source]` pairs made a keyed store per field. The code
 * holds the names as JSON string literals and does exactly what the loop did, field by field.
 */
function rowFunction(
  own: [string, string][] | undefined,
  joins: Joins,
  tables: readonly KeyValueStore<string, PlainRow>[],
): EnrichRow {
  const q = JSON.stringify;
  const body: string[] = [own ? 'const out = {};' : 'const out = Object.assign({}, after);'];
  for (const [o, s] of own ?? []) body.push(`out[${q(o)}] = after[${q(s)}] ?? null;`);
  for (const [i, j] of joins.entries()) {
    const m = `m${i}`;
    if (j.on === undefined) body.push(`const ${m} = T[${i}].getSync(key);`);
    // No key field: never a key to look up.
    else if (j.on.length === 0) body.push(`const ${m} = undefined;`);
    else {
      const values = j.on.map((f) => `after[${q(f)}]`);
      body.push(
        `let ${m};`,
        `if (${values.map((v) => `(${v} !== null && ${v} !== undefined)`).join(' || ')})`,
        `  ${m} = T[${i}].getSync(canonicalKey([${values.map((v) => `${v} ?? null`).join(', ')}]));`,
      );
    }
    if (j.join.type === 'inner') body.push(`if (${m} === undefined) return null;`);
    for (const [o, s] of j.fields) body.push(`out[${q(o)}] = ${m}?.[${q(s)}] ?? null;`);
  }
  body.push('return out;');
  const make = new Function(
    'T',
    'canonicalKey',
    `return function enrich(key, after) {\n  ${body.join('\n  ')}\n};`,
  );
  return (make as (t: typeof tables, c: typeof canonicalKey) => EnrichRow)(tables, canonicalKey);
}

/**
 * The fields of the stream's `after` row that an enrich step reads (those it copies and the
 * join keys it looks up by); undefined when it copies the whole row. The processor decodes only
 * these (`envelopeProjection`).
 */
export function afterFieldsRead(plan: EnrichPlan): string[] | undefined {
  const { own, joins } = compilePlan(plan);
  if (own === undefined) return undefined;
  const fields = new Set(own.map(([, s]) => s));
  for (const j of joins) for (const f of j.on ?? []) fields.add(f);
  return [...fields];
}

/**
 * The enrich step: turns a CDC stream into per-key changes of the enriched row. It keeps the last
 * enriched version of every primary key in its own store, so that each change carries the exact
 * row it replaces, whatever the source's replica identity sends in `before` (a `REPLICA
 * IDENTITY DEFAULT` table sends only the key, or nothing): retractions downstream take out what
 * was put in, including the dimension fields as they were when it was put in.
 *
 * - `c`, `r`, `u`: the new row is `after` projected on the selected fields, plus each joined
 *   table's fields looked up by key or foreign key. An inner join without a match makes the row
 *   absent (what it contributed is retracted). Unchanged rows forward nothing.
 * - `d`: the row becomes absent.
 * - `t` (truncate): every row this task holds becomes absent (the truncate record must reach
 *   each partition of the topic, as the capture writes it).
 * - Tombstones (the null value after a delete) are ignored.
 *
 * Joined tables are global tables: every instance holds them whole, so a foreign-key lookup
 * needs no repartitioning. They are not time-aligned with the stream: a row is enriched with
 * the table as this instance has read it when the row's change is processed (like ksqlDB's
 * stream–table joins); later changes of a customer do not rewrite orders already counted.
 */
export function enrichProcessor(
  plan: EnrichPlan,
): ProcessorSupplier<string | null, Envelope | null, string, RowChange> {
  const { decl } = plan;
  const { own, joins } = compilePlan(plan);
  return () => {
    let ctx: ProcessorContext<string, RowChange>;
    let rows: KeyValueStore<string, RowVersion>;
    let tables: KeyValueStore<string, PlainRow>[] = [];
    /**
     * The versions this task wrote or read lately, decoded (null: absent), at most `RECENT_ROWS`:
     * an update mostly follows its row's insert closely, and reading that back from the store
     * meant encoding the key and decoding the version's JSON again. This processor is the only
     * writer of its store, so what it holds here is what the store holds; the objects are shared
     * with the changes forwarded downstream, which only read them.
     */
    let recent = new Map<string, RowVersion | null>();
    const remember = (key: string, version: RowVersion | null) => {
      if (recent.size >= RECENT_ROWS) recent = new Map();
      recent.set(key, version);
    };
    const lastVersion = (key: string): RowVersion | null => {
      const hit = recent.get(key);
      if (hit !== undefined) return hit;
      const stored = rows.getSync(key) ?? null;
      remember(key, stored);
      return stored;
    };

    // Synchronous: the global tables and the task's store answer at once (`getSync`), so a
    // record goes through enrich without a promise. Made in `init`, once the stores are known.
    let enrich: EnrichRow;

    /** Carries the input's trace context (`traceparent`, `tracestate`) on to the outputs. */
    const emit = (
      key: string,
      change: RowChange,
      input: StreamRecord<unknown, unknown>,
      sourceTsMs: number,
    ): void | Promise<void> => {
      const headers: Record<string, Buffer | string> = { [SOURCE_TS_HEADER]: String(sourceTsMs) };
      for (const h of TRACE_HEADERS) {
        const v = input.headers?.[h];
        if (v !== undefined) headers[h] = v;
      }
      return ctx.forward({ key, value: change, timestamp: input.timestamp, headers });
    };

    /** `t`: every row this task holds becomes absent. */
    const truncate = async (r: StreamRecord<unknown, unknown>, sourceTsMs: number) => {
      const all: { key: string; value: RowVersion }[] = [];
      for await (const entry of rows.all()) all.push(entry);
      recent = new Map();
      for (const { key, value } of all) {
        await rows.delete(key);
        await emit(key, { oldValue: value, newValue: null }, r, sourceTsMs);
      }
    };

    return {
      init(c) {
        ctx = c;
        rows = c.getStateStore(plan.rowsStore);
        tables = joins.map((j) => c.getStateStore(j.store));
        enrich = rowFunction(own, joins, tables);
      },
      process(r) {
        const e = r.value;
        if (e === null || e === undefined) return;
        const sourceTsMs = Number(e.source?.tsMs ?? r.timestamp);
        if (e.op === 't') return truncate(r, sourceTsMs);
        const key = r.key;
        if (key === null || key === undefined) {
          ctx.logger.warn('change without a key skipped', { enrich: decl.name, ...ctx.recordMetadata() });
          return;
        }
        const row = e.op === 'd' || e.after === null ? null : enrich(key, e.after);
        const next: RowVersion | null = row === null ? null : { row, sourceTsMs };
        const old = lastVersion(key);
        if (old === null && next === null) return;
        if (
          old !== null &&
          next !== null &&
          old.sourceTsMs === next.sourceTsMs &&
          samePlain(old.row, next.row)
        )
          return;
        if (next === null) rows.deleteSync(key);
        else rows.putSync(key, next);
        remember(key, next);
        return emit(key, { oldValue: old, newValue: next }, r, sourceTsMs);
      },
    };
  };
}

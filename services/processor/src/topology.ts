import { CdcError } from '@cdc/core';
import type { AggregateDeclaration, EnrichDeclaration, ProcessingSection } from '@cdc/pipeline';
import {
  type KStream,
  type Serde,
  Serdes,
  SessionWindows,
  Stores,
  StreamsBuilder,
  TimeWindows,
  type Topology,
} from '@cdc/streams';
import { applyDelta, type GroupState, initialState, mergeStates } from './aggregation-state.ts';
import type { Envelope, RowChange } from './change.ts';
import { combineDeltas, combineSpanMs, isCombined, type RepartitionedDelta } from './combine.ts';
import { deltaProcessor } from './deltas.ts';
import { afterFieldsRead, type EnrichPlan, enrichProcessor } from './enrich.ts';
import { observed, type ProcessorObserver } from './observer.ts';
import { type OutputKey, type OutputRecord, outputProcessor } from './output.ts';
import type { PlainRow } from './plain-value.ts';
import type { QueryRegistry } from './query-registry.ts';

/** How the topology reads its CDC topics and writes its outputs (Avro in production, JSON in tests). */
export interface TopologyIo {
  /** A CDC key → its canonical text (`canonicalRowKey`). */
  keySerde(topic: string): Serde<string>;
  /**
   * A CDC value → the plain envelope. `afterFields`: the fields of `after` that the steps reading
   * the topic use; a serde may then decode only those, `op` and `source.tsMs` (undefined: all).
   */
  envelopeSerde(topic: string, afterFields?: readonly string[]): Serde<Envelope>;
  /** A joined table's CDC value → its `after` row (null for a delete). */
  tableRowSerde(topic: string): Serde<PlainRow>;
  outputSerde(aggregate: AggregateDeclaration): Serde<OutputRecord>;
  /** The output key (`outputKeySchema`): one result per group and window. */
  outputKeySerde(aggregate: AggregateDeclaration): Serde<OutputKey>;
}

export interface BuildOptions {
  io: TopologyIo;
  /** Wall-clock time for `emittedAtMs`. */
  now: () => number;
  queries?: QueryRegistry;
  /** Counts and traces every record read from a CDC topic (default: nothing). */
  observer?: ProcessorObserver;
  /** Combine the deltas of a group between commits (`combine.ts`; default true). */
  combine?: boolean;
}

/** The store and topic names a declaration uses (internal topics get `<applicationId>-` in front). */
export const names = {
  rowsStore: (enrich: string) => `${enrich}-rows`,
  tableStore: (topic: string) => `table-${topic.replace(/[^A-Za-z0-9._-]/g, '_')}`,
  aggregateStore: (aggregate: string) => aggregate,
};

/** The CDC topics a section reads (streams and joined tables). */
export function inputTopics(section: ProcessingSection): string[] {
  const topics = new Set<string>();
  for (const e of resolveEnrichments(section)) {
    topics.add(e.from);
    for (const j of e.join) topics.add(j.table);
  }
  return [...topics];
}

/** The enrich declarations, plus an implicit one (no joins) per aggregate reading a topic directly. */
function resolveEnrichments(section: ProcessingSection): EnrichDeclaration[] {
  const out = [...section.enrich];
  for (const a of section.aggregate) {
    if (!section.enrich.some((e) => e.name === a.from))
      out.push({ name: `${a.name}-source`, from: a.from, join: [] });
  }
  return out;
}

/**
 * The fields of an enrich step's rows that its aggregates read (group, inputs, filter, event
 * time): the step keeps and stores only these, as a Kafka Streams user would keep only what the
 * aggregation needs, so that the last-version store, its changelog and every comparison carry
 * no column nobody reads. Undefined (keep all) when nothing reads the step.
 */
export function fieldsUsed(section: ProcessingSection, enrich: string): string[] | undefined {
  const readers = section.aggregate.filter((a) => a.from === enrich || `${a.name}-source` === enrich);
  if (readers.length === 0) return undefined;
  const used = new Set<string>();
  for (const a of readers) {
    for (const g of a.groupBy) used.add(g);
    for (const x of a.aggregations) {
      if (x.field !== undefined) used.add(x.field);
      if (x.by !== undefined) used.add(x.by);
    }
    for (const c of a.filter) used.add(c.field);
    if (a.eventTime !== 'source') used.add(a.eventTime.field);
  }
  return [...used];
}

/**
 * Builds the topology of a processing section:
 *
 *   CDC stream ─▶ enrich (global-table lookups; last version per key) ─▶ per aggregate:
 *     deltas (−old, +new) ─▶ repartition by group ─▶ windowed aggregate (multiset state) ─▶ output topic
 */
export function buildTopology(section: ProcessingSection, options: BuildOptions): Topology {
  const { io } = options;
  const builder = new StreamsBuilder({ defaultKeySerde: Serdes.string(), defaultValueSerde: Serdes.json() });
  const tableStores = new Map<string, string>();
  const enriched = new Map<string, KStream<string, RowChange>>();
  // One source per topic, shared by the enrich steps that read it; it decodes what they read.
  const sources = new Map<string, KStream<string | null, Envelope | null>>();
  const read = new Map<string, Set<string> | 'all'>();
  for (const e of resolveEnrichments(section)) {
    const fields = afterFieldsRead({
      decl: e,
      rowsStore: '',
      tableStores,
      keep: fieldsUsed(section, e.name),
    });
    const sofar = read.get(e.from);
    if (fields === undefined || sofar === 'all') read.set(e.from, 'all');
    else read.set(e.from, new Set([...(sofar ?? []), ...fields]));
  }
  for (const e of resolveEnrichments(section)) {
    for (const j of e.join) {
      if (tableStores.has(j.table)) continue;
      const store = names.tableStore(j.table);
      builder.globalTable<string, PlainRow>(j.table, {
        keySerde: io.keySerde(j.table),
        valueSerde: io.tableRowSerde(j.table),
        storeName: store,
      });
      tableStores.set(j.table, store);
    }
    const plan: EnrichPlan = {
      decl: e,
      rowsStore: names.rowsStore(e.name),
      tableStores,
      keep: fieldsUsed(section, e.name),
    };
    builder.addStateStore(Stores.keyValue(plan.rowsStore, Serdes.string(), Serdes.json()));
    let source = sources.get(e.from);
    if (!source) {
      const fields = read.get(e.from);
      source = builder.stream<string | null, Envelope | null>(e.from, {
        keySerde: io.keySerde(e.from),
        valueSerde: io.envelopeSerde(
          e.from,
          fields === 'all' || fields === undefined ? undefined : [...fields],
        ),
      });
      if (options.observer) source = source.process(observed(e.from, options.observer));
      sources.set(e.from, source);
    }
    const stream = source.process(enrichProcessor(plan), {
      stores: [plan.rowsStore, ...e.join.map((j) => tableStores.get(j.table) as string)],
    });
    enriched.set(e.name, stream);
  }
  for (const a of section.aggregate) {
    const source = enriched.get(a.from) ?? enriched.get(`${a.name}-source`);
    if (!source) throw new CdcError('CONFIG_INVALID', `aggregate ${a.name}: nothing named ${a.from}`);
    const deltas = source.process(deltaProcessor(a));
    // Deltas of a group that fall into the same windows travel combined, one record per commit.
    const span = options.combine === false ? undefined : combineSpanMs(a);
    const grouped = (
      span === undefined
        ? (deltas as KStream<string, RepartitionedDelta>)
        : deltas.process(combineDeltas(a, span))
    ).groupByKey({ keySerde: Serdes.string(), valueSerde: Serdes.json<RepartitionedDelta>(), name: a.name });
    const init = () => initialState(a.aggregations);
    const apply = (_k: string, d: RepartitionedDelta, s: GroupState) =>
      isCombined(d) ? mergeStates(a.aggregations, s, d.p) : applyDelta(a.aggregations, s, d);
    // A CDC aggregate must equal its source: changes to a window past its grace (retractions of
    // updated or deleted rows, a backlog behind stream time) still apply while it is retained.
    const materialized = {
      storeName: names.aggregateStore(a.name),
      valueSerde: Serdes.json<GroupState>(),
      afterGrace: 'amend' as const,
      ...(a.window ? { retentionMs: a.window.retention } : {}),
      ...(a.lateRecordsTopic ? { lateRecordsTopic: a.lateRecordsTopic } : {}),
    };
    const emit =
      (a.emit ?? (a.window ? 'on-close' : 'on-update')) === 'on-close' ? 'on-window-close' : 'on-update';
    const w = a.window;
    const table =
      w === undefined
        ? grouped.aggregate(init, apply, materialized)
        : w.type === 'session'
          ? grouped
              .windowedBy(SessionWindows.inactivityGap(w.gap, { graceMs: w.grace }))
              .aggregate(init, apply, (_k, x, y) => mergeStates(a.aggregations, x, y), {
                ...materialized,
                emit,
              })
          : grouped
              .windowedBy(
                w.type === 'tumbling'
                  ? TimeWindows.tumbling(w.size, { graceMs: w.grace })
                  : TimeWindows.hopping(w.size, w.advance, { graceMs: w.grace }),
              )
              .aggregate(init, apply, { ...materialized, emit });
    (table.toStream() as KStream<never, GroupState | null>)
      .process(outputProcessor(a, options.now, options.queries) as never, {
        stores: [materialized.storeName],
      })
      .to(a.topic, {
        keySerde: io.outputKeySerde(a) as Serde<unknown>,
        valueSerde: io.outputSerde(a) as Serde<unknown>,
      });
  }
  return builder.build();
}

/**
 * What the API reads: the pipeline as a graph (sources → topics → processor declarations →
 * sink tables) and one row per captured table with its state and figures, from the pipeline
 * file, the topics Kafka has, the paused tables the captures hold (`<prefix>.paused`) and the
 * services' own metrics (the last scrape and the rates between the last two).
 */

import { isInternalTopic, sanitizeTopicPart } from '@cdc/core';
import type { Sample, Scrape } from '@cdc/operate';
import { samplesOf, tableFor } from '@cdc/operate';
import type { Pipeline } from '@cdc/pipeline';
import type { GraphNode, PipelineGraph, TableState, TableView } from './api-types.ts';

export type { GraphNode, PipelineGraph, TableState, TableView } from './api-types.ts';

/** A capture's topic that holds no table: its bookkeeping, or its logical messages. */
const notATable = (topic: string) => isInternalTopic(topic) || topic.endsWith('.messages');

/** The captured tables' topics of every source, from the topics Kafka has. */
export function tableTopics(
  pipeline: Pipeline,
  topics: readonly string[],
): { source: string; kind: 'postgres' | 'mongo'; table: string; topic: string }[] {
  const out: { source: string; kind: 'postgres' | 'mongo'; table: string; topic: string }[] = [];
  // A topic prefix may be shared by several sources' databases (the demo's `demo.<db>.…`): a
  // source's tables are those of its own database(s) only.
  const sources = [
    ...pipeline.sources.postgres.map((s) => ({
      s,
      kind: 'postgres' as const,
      depth: 4,
      dbs: new Set([sanitizeTopicPart(s.connection.database)]),
    })),
    ...pipeline.sources.mongo.map((s) => ({
      s,
      kind: 'mongo' as const,
      depth: 3,
      // No include list: every database.
      dbs:
        s.include.length > 0
          ? new Set(s.include.map((i) => sanitizeTopicPart(i.split('.')[0] as string)))
          : null,
    })),
  ];
  for (const { s, kind, depth, dbs } of sources) {
    const prefix = `${s.topicPrefix ?? s.name}.`;
    for (const t of topics) {
      if (!t.startsWith(prefix) || notATable(t)) continue;
      const parts = t.split('.');
      const versioned = parts.length === depth + 1 && /^v\d+$/.test(parts.at(-1) ?? '');
      if (parts.length !== depth && !versioned) continue;
      if (dbs && !dbs.has(parts[1] as string)) continue;
      const table = kind === 'postgres' ? `${parts[2]}.${parts[3]}` : `${parts[1]}.${parts[2]}`;
      out.push({ source: s.name, kind, table, topic: t });
    }
  }
  return out.sort((a, b) => a.topic.localeCompare(b.topic));
}

const sumWhere = (
  samples: readonly Sample[] | undefined,
  name: string,
  where: (l: Record<string, string>) => boolean,
) => {
  if (!samples) return null;
  let n: number | null = null;
  for (const x of samples) if (x.name === name && where(x.labels)) n = (n ?? 0) + x.value;
  return n;
};

const rate = (cur: number | null, prev: number | null, dt: number) =>
  cur === null || prev === null || dt <= 0 ? null : Math.max(0, cur - prev) / dt;

const captureOf = (kind: 'postgres' | 'mongo') =>
  kind === 'postgres' ? 'capture-postgres' : 'capture-mongo';

/** One row per captured table. `paused`: base topics the captures hold. */
export function tableViews(
  pipeline: Pipeline,
  topics: readonly string[],
  paused: ReadonlySet<string>,
  cur: Scrape | undefined,
  prev: Scrape | undefined,
  latencyOf: (topic: string) => { p50: number; p99: number } | null,
): TableView[] {
  const dt = cur && prev ? (cur.at - prev.at) / 1000 : 0;
  return tableTopics(pipeline, topics).map(({ source, kind, table, topic }) => {
    const cap = cur ? samplesOf(cur, captureOf(kind)) : undefined;
    const capPrev = prev ? samplesOf(prev, captureOf(kind)) : undefined;
    const sink = cur ? samplesOf(cur, 'sink-clickhouse') : undefined;
    const sinkPrev = prev ? samplesOf(prev, 'sink-clickhouse') : undefined;
    const onTopic = (stage: string) => (l: Record<string, string>) => l.stage === stage && l.topic === topic;
    const captured = sumWhere(cap, 'cdc_records_out_total', onTopic('capture'));
    const written = sumWhere(sink, 'cdc_records_out_total', onTopic('sink'));
    const ofTable = (l: Record<string, string>) => l.source === source && l.table === table;
    const done = sumWhere(cap, 'cdc_snapshot_rows_done', ofTable);
    const estimated = sumWhere(cap, 'cdc_snapshot_rows_estimated', ofTable);
    const stoppedBy = (cap ?? []).find(
      (x) => x.name === 'cdc_table_stopped' && x.value > 0 && x.labels.table === table,
    );
    const deadLetters: Record<string, number> = {};
    for (const x of [...(cap ?? []), ...(sink ?? [])])
      if (x.name === 'cdc_dead_letter_total' && x.labels.topic === topic) {
        const reason = x.labels.reason ?? 'unknown';
        deadLetters[reason] = (deadLetters[reason] ?? 0) + x.value;
      }
    const base = topic.replace(/\.v\d+$/, '');
    const snapshotting = done !== null && estimated !== null && estimated > 0 && done < estimated;
    const state: TableState = paused.has(base)
      ? 'paused'
      : stoppedBy
        ? 'stopped'
        : snapshotting
          ? 'snapshotting'
          : cap
            ? 'streaming'
            : 'waiting';
    return {
      source,
      kind,
      table,
      topic,
      sinkTable: pipeline.clickhouse ? tableFor(pipeline, topic) : null,
      state,
      error: stoppedBy ? `stopped (${stoppedBy.labels.code ?? 'error'}): see \`cdc status\`` : null,
      snapshot:
        done === null
          ? null
          : {
              done,
              estimated,
              percent: estimated ? Math.min(100, Math.round((100 * done) / Math.max(1, estimated))) : null,
              rowsPerSecond: sumWhere(cap, 'cdc_snapshot_rows_per_second', ofTable),
              etaSeconds: snapshotting ? sumWhere(cap, 'cdc_snapshot_eta_seconds', ofTable) : null,
            },
      captured,
      written,
      capturedPerS: rate(captured, sumWhere(capPrev, 'cdc_records_out_total', onTopic('capture')), dt),
      writtenPerS: rate(written, sumWhere(sinkPrev, 'cdc_records_out_total', onTopic('sink')), dt),
      lag: sumWhere(sink, 'cdc_consumer_lag', (l) => l.topic === topic),
      latency: latencyOf(topic),
      deadLetters,
    };
  });
}

/** The pipeline as a graph, with the tables' rates. */
export function pipelineGraph(pipeline: Pipeline, tables: readonly TableView[]): PipelineGraph {
  const nodes: GraphNode[] = [];
  const edges: { from: string; to: string }[] = [];
  for (const s of pipeline.sources.postgres)
    nodes.push({ id: `source:${s.name}`, kind: 'source', label: `PostgreSQL ${s.name}`, rate: null });
  for (const s of pipeline.sources.mongo)
    nodes.push({ id: `source:${s.name}`, kind: 'source', label: `MongoDB ${s.name}`, rate: null });
  for (const t of tables) {
    nodes.push({ id: `topic:${t.topic}`, kind: 'topic', label: t.topic, rate: t.capturedPerS });
    edges.push({ from: `source:${t.source}`, to: `topic:${t.topic}` });
    if (t.sinkTable) {
      nodes.push({ id: `sink:${t.sinkTable}`, kind: 'sink-table', label: t.sinkTable, rate: t.writtenPerS });
      edges.push({ from: `topic:${t.topic}`, to: `sink:${t.sinkTable}` });
    }
  }
  const p = pipeline.processing;
  const topicIds = new Set(tables.map((t) => t.topic));
  /** An input: a CDC topic, or the enrich declaration of that name. */
  const inputId = (from: string) => (topicIds.has(from) ? `topic:${from}` : `processor:${from}`);
  for (const e of p?.enrich ?? []) {
    nodes.push({ id: `processor:${e.name}`, kind: 'processor', label: `enrich ${e.name}`, rate: null });
    edges.push({ from: inputId(e.from), to: `processor:${e.name}` });
    for (const j of e.join) {
      if (topicIds.has(j.table)) edges.push({ from: `topic:${j.table}`, to: `processor:${e.name}` });
    }
  }
  for (const a of p?.aggregate ?? []) {
    nodes.push({ id: `processor:${a.name}`, kind: 'processor', label: `aggregate ${a.name}`, rate: null });
    edges.push({ from: inputId(a.from), to: `processor:${a.name}` });
    nodes.push({ id: `topic:${a.topic}`, kind: 'topic', label: a.topic, rate: null });
    edges.push({ from: `processor:${a.name}`, to: `topic:${a.topic}` });
    if (pipeline.clickhouse) {
      const sinkTable = tableFor(pipeline, a.topic);
      nodes.push({ id: `sink:${sinkTable}`, kind: 'sink-table', label: sinkTable, rate: null });
      edges.push({ from: `topic:${a.topic}`, to: `sink:${sinkTable}` });
    }
  }
  const seen = new Set<string>();
  return { nodes: nodes.filter((n) => !seen.has(n.id) && seen.add(n.id)), edges };
}

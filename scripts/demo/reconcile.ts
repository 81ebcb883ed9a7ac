/**
 * Reconciliation of the processor's aggregates with their source: for every aggregate of the
 * pipeline, every window of every group as the sink upserted it (`<topic>_current`) against a
 * `GROUP BY` over the replicated source tables, which `cdc verify` proves equal to PostgreSQL and
 * MongoDB. The event time of a row is its last change's commit time (`_source_ts`), the
 * processor's `eventTime: source`; the joins take the joined tables' current rows.
 *
 * - tumbling and hopping windows: `count` and `sum` aggregations over the enriched rows;
 * - session windows: the sessions of each group cut by the gap over the source's change history
 *   (`<topic>_history`, every change once), `count` of events.
 *
 * Every query is a UNION of both sides grouped by window and group, so that it runs on a
 * read-only endpoint too.
 */
import type { AggregateDeclaration, Pipeline } from '@cdc/pipeline';

export interface Reader {
  query<T>(sql: string): Promise<T[]>;
}

export interface Reconciliation {
  aggregate: string;
  /** What `count` counted: rows per window (a row counts once per window that holds it). */
  countName: string;
  aggregateCount: number;
  sourceCount: number;
  /** Windows × groups on either side. */
  compared: number;
  differing: number;
  /** Up to 5 differing windows, both sides. */
  examples: string[];
  /** Why it was not reconciled (an aggregation or window this check does not cover). */
  skipped?: string;
}

const tableOf = (database: string, topic: string) => `${database}.${topic.replace(/[^A-Za-z0-9_]/g, '_')}`;
const ident = (s: string) => `\`${s.replace(/`/g, '\\`')}\``;
/** A group value as the processor writes it (text; null stays null, compared as a marker). */
const groupText = (expr: string) => `ifNull(toString(${expr}), '<null>')`;

/** The line the demo prints: `revenue_by_region_1m: 87,260 orders in aggregates = 87,260 in the source …`. */
export function reconciliationLine(r: Reconciliation): string {
  if (r.skipped) return `${r.aggregate}: not reconciled (${r.skipped})`;
  const n = (x: number) => x.toLocaleString('en-US');
  const eq = r.aggregateCount === r.sourceCount ? '=' : '≠';
  return `${r.aggregate}: ${n(r.aggregateCount)} ${r.countName} in aggregates ${eq} ${n(r.sourceCount)} in the source (${n(r.compared)} windows × groups, ${n(r.differing)} differ)${r.examples.length > 0 ? `; e.g. ${r.examples.join('; ')}` : ''}`;
}

export async function reconcile(
  reader: Reader,
  pipeline: Pipeline,
  database: string,
): Promise<Reconciliation[]> {
  const section = pipeline.processing;
  if (!section) return [];
  const out: Reconciliation[] = [];
  for (const decl of section.aggregate) {
    const sql = sourceQuery(decl, pipeline, database);
    if (typeof sql !== 'string') {
      out.push({
        aggregate: decl.name,
        countName: 'rows',
        aggregateCount: 0,
        sourceCount: 0,
        compared: 0,
        differing: 0,
        examples: [],
        skipped: sql.skipped,
      });
      continue;
    }
    out.push(await compare(reader, decl, database, sql));
  }
  return out;
}

/** The aggregations this check recomputes: `count` (of rows) and `sum`. */
function measured(
  decl: AggregateDeclaration,
): { name: string; fn: 'count' | 'sum'; field?: string; scale: number }[] | string {
  const out: { name: string; fn: 'count' | 'sum'; field?: string; scale: number }[] = [];
  for (const a of decl.aggregations) {
    if (a.fn === 'count' && !a.field) out.push({ name: a.name, fn: 'count', scale: 0 });
    else if (a.fn === 'sum' && a.field)
      out.push({ name: a.name, fn: 'sum', field: a.field, scale: a.scale ?? 0 });
    else return `${a.fn}${a.field ? `(${a.field})` : ''} is not recomputed here`;
  }
  return out.some((m) => m.fn === 'count') ? out : 'no count(*) to reconcile';
}

interface SourceRows {
  /** FROM … JOIN …: the enriched rows, with `_t` their event time in ms. */
  from: string;
  /** The expression of a field of the enriched row. */
  field(name: string): string;
}

/** The enriched rows of an aggregate's input, from the replicated tables. */
function enrichedRows(
  decl: AggregateDeclaration,
  pipeline: Pipeline,
  database: string,
  history: boolean,
): SourceRows | string {
  const enrich = pipeline.processing?.enrich.find((e) => e.name === decl.from);
  const topic = enrich?.from ?? decl.from;
  const base = `${tableOf(database, topic)}${history ? '_history FINAL' : '_current'}`;
  const fields = new Map<string, string>();
  const joins: string[] = [];
  const joinsDeclared = enrich?.join ?? [];
  if (joinsDeclared.some((j) => typeof j.on !== 'string'))
    return 'joins on several fields or on the key are not recomputed here';
  joinsDeclared.forEach((j, i) => {
    const alias = `j${i}`;
    const pairs = Array.isArray(j.fields) ? j.fields.map((f) => [f, f] as const) : Object.entries(j.fields);
    for (const [as, f] of pairs) fields.set(as, `${alias}.${ident(f)}`);
    // The joined table's key is its primary key: `id` in the demo shop.
    joins.push(
      `LEFT JOIN ${tableOf(database, j.table)}_current AS ${alias} ON r.${ident(j.on as string)} = ${alias}.id`,
    );
  });
  if ((enrich?.join ?? []).some((j) => j.type === 'inner')) return 'an inner join is not recomputed here';
  return {
    from: `(SELECT *, toUnixTimestamp64Milli(_source_ts) AS _t FROM ${base}${history ? " WHERE _op != 'd'" : ''}) AS r ${joins.join(' ')}`,
    field: (name) => fields.get(name) ?? `r.${ident(name)}`,
  };
}

/** `SELECT _w, _e, _k, <measures>` of the source side, or why not. */
function sourceQuery(
  decl: AggregateDeclaration,
  pipeline: Pipeline,
  database: string,
): string | { skipped: string } {
  const w = decl.window;
  if (!w) return { skipped: 'unwindowed aggregates are not reconciled here' };
  if (decl.filter.length > 0) return { skipped: 'filters are not recomputed here' };
  if (decl.eventTime !== 'source') return { skipped: 'event time from a field is not recomputed here' };
  const ms = measured(decl);
  if (typeof ms === 'string') return { skipped: ms };
  const rows = enrichedRows(decl, pipeline, database, w.type === 'session');
  if (typeof rows === 'string') return { skipped: rows };
  const key =
    decl.groupBy.length > 0
      ? `concat(${decl.groupBy.map((g) => `${groupText(rows.field(g))}, '|'`).join(', ')})`
      : "''";
  // The enriched rows, each reduced to its event time, group and summed fields.
  const inputs = ms
    .map((m, i) => (m.fn === 'sum' ? `, ${rows.field(m.field as string)} AS _m${i}` : ''))
    .join('');
  const enriched = `SELECT r._t AS _t, r._change_id AS _i, ${key} AS _k${inputs} FROM ${rows.from}`;
  const measures = ms.map((m, i) =>
    m.fn === 'count'
      ? `toDecimal128(count(), 0) AS ${ident(m.name)}`
      : `ifNull(toDecimal128(sum(_m${i}), ${m.scale}), toDecimal128(0, ${m.scale})) AS ${ident(m.name)}`,
  );
  if (w.type === 'session') {
    if (ms.some((m) => m.fn !== 'count')) return { skipped: 'sums over sessions are not recomputed here' };
    // Each change is one event; a new session starts where the gap to the previous event exceeds `gap`.
    return `SELECT min(_t) AS _w, max(_t) AS _e, _k, ${measures.join(', ')} FROM (
              SELECT _k, _t, sum(_new) OVER (PARTITION BY _k ORDER BY _t, _i ROWS UNBOUNDED PRECEDING) AS _s FROM (
                SELECT _k, _t, _i,
                       if(_t - lagInFrame(_t, 1, toInt64(-1e15)) OVER (PARTITION BY _k ORDER BY _t, _i ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) > ${w.gap}, 1, 0) AS _new
                  FROM (${enriched})))
            GROUP BY _k, _s`;
  }
  const size = w.size;
  const advance = w.type === 'hopping' ? w.advance : w.size;
  const starts =
    size === advance
      ? `[intDiv(_t, ${size}) * ${size}]`
      : `arrayFilter(s -> s + ${size} > _t, arrayMap(i -> intDiv(_t, ${advance}) * ${advance} - i * ${advance}, range(${Math.ceil(size / advance)})))`;
  return `SELECT _w, _w + ${size} AS _e, _k, ${measures.join(', ')} FROM (
            SELECT *, arrayJoin(${starts}) AS _w FROM (${enriched}))
          GROUP BY _w, _k`;
}

async function compare(
  reader: Reader,
  decl: AggregateDeclaration,
  database: string,
  source: string,
): Promise<Reconciliation> {
  const ms = measured(decl) as { name: string; fn: 'count' | 'sum'; scale: number }[];
  const count = ms.find((m) => m.fn === 'count') as { name: string };
  const key =
    decl.groupBy.length > 0
      ? `concat(${decl.groupBy.map((g) => `${groupText(ident(g))}, '|'`).join(', ')})`
      : "''";
  const aggMeasures = ms.map(
    (m) =>
      `ifNull(toDecimal128(${ident(m.name)}, ${m.scale}), toDecimal128(0, ${m.scale})) AS ${ident(m.name)}`,
  );
  const aggregate = `SELECT toUnixTimestamp64Milli(windowStartMs) AS _w, toUnixTimestamp64Milli(windowEndMs) AS _e, ${key} AS _k, ${aggMeasures.join(', ')}
                       FROM ${tableOf(database, decl.topic)}_current`;
  const cols = ['_e', ...ms.map((m) => ident(m.name))];
  const pick = (side: string) =>
    cols.map((c) => `anyIf(${c}, _side = '${side}') AS ${side}${c.replace(/`/g, '')}`);
  const sides = `SELECT _w, _k, count() AS _n, ${[...pick('a'), ...pick('s')].join(', ')} FROM (
                   SELECT 'a' AS _side, * FROM (${aggregate})
                   UNION ALL
                   SELECT 's' AS _side, * FROM (${source}))
                 GROUP BY _w, _k`;
  const differs = `_n != 2 OR ${cols.map((c) => `a${c.replace(/`/g, '')} != s${c.replace(/`/g, '')}`).join(' OR ')}`;
  const c = count.name;
  const [totals] = await reader.query<{ compared: string; differing: string; a: string; s: string }>(
    `SELECT count() AS compared, countIf(${differs}) AS differing, toString(sum(a${c})) AS a, toString(sum(s${c})) AS s
       FROM (${sides})`,
  );
  const examples = await reader.query<Record<string, string>>(
    `SELECT toString(_w) AS w, _k AS k, toString(a${c}) AS a, toString(s${c}) AS s, toString(_n) AS n FROM (${sides})
      WHERE ${differs} ORDER BY _w, _k LIMIT 5`,
  );
  return {
    aggregate: decl.name,
    countName: c,
    aggregateCount: Number(totals?.a ?? 0),
    sourceCount: Number(totals?.s ?? 0),
    compared: Number(totals?.compared ?? 0),
    differing: Number(totals?.differing ?? 0),
    examples: examples.map(
      (e) =>
        `window ${new Date(Number(e.w)).toISOString()} ${e.k}: ${e.n === '2' ? `${e.a} vs ${e.s}` : 'on one side only'}`,
    ),
  };
}

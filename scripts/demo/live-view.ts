/**
 * The demo's live view: every figure from the services' own `/metrics` (each service `cdc up`
 * started serves them on the port recorded in the state directory; `cdc status` reads the same),
 * per second between two scrapes, plus the generator's own count of source transactions.
 * A service that does not run or answer shows "n/a". An ANSI redraw on a terminal, a line every
 * 5 s otherwise.
 */

import type { ServiceName } from '@cdc/operate';
import { formatQuality, type PipelineRates, qualitySummary, type Scrape, samplesOf } from '@cdc/operate';
import type { GeneratorStats } from './generator.ts';

export { scrapeServices as scrape } from '@cdc/operate';

export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${Math.round(f * 100)
    .toString()
    .padStart(3)}%`;
}

const NA = 'n/a';
const num = (n: number | undefined, w = 8) => (n === undefined ? NA : n.toFixed(0)).padStart(w);
const ms = (s: number) => (s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);

/** Why a service's figure is n/a (its scrape), or nothing. */
function why(cur: Scrape, name: ServiceName): string {
  const s = cur.services[name];
  return s && !Array.isArray(s) ? ` (${name}: ${s.down})` : '';
}

export function render(
  r: PipelineRates,
  cur: Scrape,
  gen: GeneratorStats,
  genPrev: GeneratorStats,
  notes: string[],
  elapsedS: number,
): string[] {
  const srcRate = (gen.transactions - genPrev.transactions) / r.intervalS;
  const caps = Object.entries(r.captured) as [ServiceName, number | undefined][];
  const capTotal = caps.some(([, v]) => v !== undefined)
    ? caps.reduce((a, [, v]) => a + (v ?? 0), 0)
    : undefined;
  const lat = r.latency
    ? `p50 ${ms(r.latency.p50)}  p99 ${ms(r.latency.p99)}  (${r.latency.count} changes inserted in the last ${r.latencyWindowS.toFixed(0)} s)`
    : why(cur, 'sink-clickhouse')
      ? `${NA}${why(cur, 'sink-clickhouse')}`
      : `${NA} (no change inserted in the last ${r.latencyWindowS.toFixed(0)} s)`;
  const lines = [
    `cdc demo — ${elapsedS.toFixed(0)} s   (figures per second, from each service's /metrics)`,
    `  source transactions/s ${num(srcRate)}   generator: inserts ${gen.inserts}, updates ${gen.updates}, deletes ${gen.deletes}, mongo ${gen.mongo}, errors ${gen.errors}`,
    `  captured records/s    ${num(capTotal)}   ${caps.map(([n, v]) => `${n} ${v === undefined ? `${NA}${why(cur, n)}` : v.toFixed(0)}`).join(', ')}   [cdc_records_out_total{stage=capture}]`,
    `  processed records/s   ${num(r.processedIn)}   in, ${r.processedOut === undefined ? NA : r.processedOut.toFixed(0)} out (aggregate updates)${why(cur, 'processor')}   [processor cdc_records_in/out_total]`,
    `  written rows/s        ${num(r.written)}   into ClickHouse${why(cur, 'sink-clickhouse')}   [sink cdc_records_out_total]`,
    `  lag (records)         processor ${r.processorLag === undefined ? NA : r.processorLag}, sink ${r.sinkLag === undefined ? NA : r.sinkLag}   [cdc_consumer_lag, a commit marker per partition included]`,
    `  late records          ${r.lateRecords === undefined ? NA : r.lateRecords}   changes for aggregate windows past their retention, not counted   [processor cdc_late_records_total]`,
    `  end-to-end latency    ${lat}   [sink cdc_end_to_end_latency_seconds: source commit → ClickHouse insert]`,
    '  snapshot (rows written / rows estimated)   [capture cdc_snapshot_rows_done / _estimated]',
    ...(r.snapshot.length === 0
      ? [`    ${NA}: no capture reports snapshot progress yet`]
      : r.snapshot.map(
          (s) =>
            `    ${s.table.padEnd(20)} ${s.estimated ? bar(s.done / Math.max(1, s.estimated)) : `${''.padEnd(31)}`} ${s.done}${s.estimated ? ` / ~${s.estimated}` : ''}${s.rowsPerSecond !== undefined ? `, ${s.rowsPerSecond} rows/s` : ''}${s.etaSeconds ? `, ETA ${Math.round(s.etaSeconds)} s` : ''}`,
        )),
    ...(['capture-postgres', 'capture-mongo'] as const)
      .filter((c) => Array.isArray(cur.services[c]) && !r.snapshot.some((x) => x.service === c))
      .map((c) => `    ${NA}: ${c} exports no snapshot progress`),
    ...qualityLines(cur),
    ...notes.map((n) => `  note: ${n}`),
  ];
  return lines;
}

/** Per table with transforms in the pipeline file, since the capture started: rows and broken rules. */
export function qualityLines(cur: Scrape): string[] {
  const summary = qualitySummary([
    ...(samplesOf(cur, 'capture-postgres') ?? []),
    ...(samplesOf(cur, 'capture-mongo') ?? []),
  ]);
  const lines = formatQuality(summary);
  if (lines.length === 0) return [];
  return [
    '  transforms and quality rules since start   [capture cdc_transform_records_total, cdc_quality_violations_total]',
    ...lines.map((l) => `    ${l}`),
  ];
}

/** The non-TTY line: the same figures, short. */
export function line(
  r: PipelineRates,
  gen: GeneratorStats,
  genPrev: GeneratorStats,
  elapsedS: number,
): string {
  const f = (n: number | undefined) => (n === undefined ? NA : n.toFixed(0));
  const caps = Object.values(r.captured);
  const cap = caps.some((v) => v !== undefined) ? caps.reduce<number>((a, v) => a + (v ?? 0), 0) : undefined;
  const snap = r.snapshot
    .map(
      (s) =>
        `${s.table} ${s.estimated ? `${Math.min(100, Math.round((100 * s.done) / s.estimated))}%` : s.done}`,
    )
    .join(' ');
  return [
    `cdc demo ${elapsedS.toFixed(0)} s`,
    `source tx/s ${f((gen.transactions - genPrev.transactions) / r.intervalS)}`,
    `captured/s ${f(cap)}`,
    `processed/s in ${f(r.processedIn)} out ${f(r.processedOut)}`,
    `written/s ${f(r.written)}`,
    `lag processor ${f(r.processorLag)} sink ${f(r.sinkLag)}`,
    `late ${f(r.lateRecords)}`,
    `e2e ${r.latency ? `p50 ${ms(r.latency.p50)} p99 ${ms(r.latency.p99)}` : NA}`,
    ...(snap ? [`snapshot ${snap}`] : []),
  ].join(' | ');
}

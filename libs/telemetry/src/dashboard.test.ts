/**
 * The Grafana dashboard (infra/observability) queries only series the services export, and shows
 * every metric of the catalogue: a renamed metric or a typo in a panel fails here, not on a
 * blank panel in production.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportedSeriesNames, METRICS, type MetricSpec } from './catalogue.ts';

const dashboardFile = resolve(
  import.meta.dirname,
  '../../../infra/observability/grafana/dashboards/cdc-pipeline.json',
);

/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
]);

/** Metric names a PromQL expression selects. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range and subquery windows
    .replace(/\$\{?\w+\}?/g, '') // Grafana variables
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  const names: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const after = stripped.slice(m.index + word.length).trimStart();
    const before = stripped.slice(0, m.index);
    if (after.startsWith('(')) continue; // a function or an aggregation
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (/[0-9.]$/.test(before)) continue; // a number's exponent or a duration's unit
    names.push(word);
  }
  return names;
}

interface Panel {
  title?: string;
  type: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

function expressions(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: Panel[] };
  const out: { panel: string; expr: string }[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? p.type, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  return out;
}

describe('the PromQL metric name extractor', () => {
  it('finds selected series and skips functions, labels, windows and keywords', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, topic) (rate(cdc_end_to_end_latency_seconds_bucket{topic=~"a.b"}[$__rate_interval])))',
      ),
    ).toEqual(['cdc_end_to_end_latency_seconds_bucket']);
    expect(
      metricNames('max by (store) (a_done) / on (store) group_left max(b_estimated offset 5m) > bool 1e3'),
    ).toEqual(['a_done', 'b_estimated']);
    expect(metricNames('sum(up{job="cdc"}) or vector(0)')).toEqual(['up']);
  });
});

describe('the CDC pipeline dashboard', () => {
  const exprs = expressions();

  it('has panels with queries', () => {
    expect(exprs.length).toBeGreaterThan(15);
  });

  it('queries only series the services export', () => {
    const exported = exportedSeriesNames();
    for (const { panel, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        expect(exported.has(name) || PROMETHEUS_SERIES.has(name), `${panel}: ${name} is not exported`).toBe(
          true,
        );
      }
    }
  });

  it('shows every metric of the catalogue', () => {
    const used = new Set(exprs.flatMap(({ expr }) => metricNames(expr)));
    for (const m of Object.values(METRICS) as MetricSpec[]) {
      const series =
        m.kind === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name];
      expect(
        series.some((s) => used.has(s)),
        `${m.name} is on no panel`,
      ).toBe(true);
    }
  });
});

/**
 * Per-table transforms and data-quality rules as the captures' `/metrics` report them since they
 * started (`cdc_transform_records_total`, `cdc_quality_violations_total`): what `cdc status` and
 * the demo's live view print. Pure: the scraping is the caller's.
 */
import type { Sample } from './prometheus-text.ts';

export interface TableQuality {
  passed: number;
  filtered: number;
  quarantined: number;
  /** `<rule> (<action>)` → violations. */
  violations: Record<string, number>;
}

export function qualitySummary(samples: readonly Sample[]): Record<string, TableQuality> {
  const out: Record<string, TableQuality> = {};
  const of = (t: string) => {
    out[t] ??= { passed: 0, filtered: 0, quarantined: 0, violations: {} };
    return out[t];
  };
  for (const s of samples) {
    const table = s.labels.table;
    if (table === undefined) continue;
    if (s.name === 'cdc_transform_records_total') {
      const o = s.labels.outcome;
      if (o === 'passed' || o === 'filtered' || o === 'quarantined') of(table)[o] += s.value;
    } else if (s.name === 'cdc_quality_violations_total') {
      const v = of(table).violations;
      const key = `${s.labels.rule} (${s.labels.action})`;
      v[key] = (v[key] ?? 0) + s.value;
    }
  }
  return out;
}

/** One line per table: `public.orders: passed 10, filtered 2, quarantined 1; violations: range:amount (quarantine) 1`. */
export function formatQuality(summary: Record<string, TableQuality>): string[] {
  return Object.entries(summary)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([t, q]) => {
      const v = Object.entries(q.violations);
      return `${t}: passed ${q.passed}, filtered ${q.filtered}, quarantined ${q.quarantined}${
        v.length > 0 ? `; violations: ${v.map(([r, n]) => `${r} ${n}`).join(', ')}` : ''
      }`;
    });
}

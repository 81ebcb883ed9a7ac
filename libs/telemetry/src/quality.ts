/**
 * Per-table transforms and data-quality rules as a service reports them: rows passed,
 * filtered and quarantined (`cdc_transform_records_total`), broken rules
 * (`cdc_quality_violations_total`), and a table stopped by a `stop` rule as
 * `cdc_table_stopped{code="DATA_QUALITY"}` plus a line of `/readyz`'s `attention` with the
 * rule, the key and the fix (what `cdc status` and the console show).
 *
 *   const quality = qualityReporter(telemetry, 'capture');
 *   quality.outcome('public.orders', 'filtered');
 */
import type { Stage } from './catalogue.ts';
import type { Telemetry } from './telemetry.ts';

export interface QualityReporter {
  outcome(table: string, outcome: 'passed' | 'filtered' | 'quarantined'): void;
  violation(table: string, rule: string, action: string): void;
  stopped(table: string, message: string | null): void;
  stale(table: string, message: string | null): void;
}

export function qualityReporter(
  telemetry: Pick<Telemetry, 'metrics' | 'readiness'>,
  stage: Stage,
): QualityReporter {
  const { metrics, readiness } = telemetry;
  // Counted per row, so added to the counters in batches (every second, and at 1000 pending).
  const outcomes = new Map<string, { table: string; outcome: string; n: number }>();
  const violations = new Map<string, { table: string; rule: string; action: string; n: number }>();
  let pending = 0;
  const flush = () => {
    for (const o of outcomes.values()) {
      if (o.n > 0) metrics.transformRecords.add(o.n, { stage, table: o.table, outcome: o.outcome });
      o.n = 0;
    }
    for (const v of violations.values()) {
      if (v.n > 0)
        metrics.qualityViolations.add(v.n, { stage, table: v.table, rule: v.rule, action: v.action });
      v.n = 0;
    }
    pending = 0;
  };
  setInterval(flush, 1_000).unref();
  return {
    outcome(table, outcome) {
      const k = `${table}\0${outcome}`;
      let o = outcomes.get(k);
      if (!o) {
        o = { table, outcome, n: 0 };
        outcomes.set(k, o);
      }
      o.n++;
      if (++pending >= 1_000) flush();
    },
    violation(table, rule, action) {
      const k = `${table}\0${rule}\0${action}`;
      let v = violations.get(k);
      if (!v) {
        v = { table, rule, action, n: 0 };
        violations.set(k, v);
      }
      v.n++;
      if (++pending >= 1_000) flush();
    },
    stopped(table, message) {
      flush();
      metrics.tableStopped.set(message === null ? 0 : 1, { stage, table, code: 'DATA_QUALITY' });
      readiness.attention(`table ${table} stopped by a quality rule`, message ?? undefined);
    },
    stale(table, message) {
      flush();
      readiness.attention(`table ${table} not fresh`, message ?? undefined);
    },
  };
}

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
}

export function qualityReporter(
  telemetry: Pick<Telemetry, 'metrics' | 'readiness'>,
  stage: Stage,
): QualityReporter {
  const { metrics, readiness } = telemetry;
  return {
    outcome(table, outcome) {
      metrics.transformRecords.add(1, { stage, table, outcome });
    },
    violation(table, rule, action) {
      metrics.qualityViolations.add(1, { stage, table, rule, action });
    },
    stopped(table, message) {
      metrics.tableStopped.set(message === null ? 0 : 1, { stage, table, code: 'DATA_QUALITY' });
      readiness.attention(`table ${table} stopped by a quality rule`, message ?? undefined);
    },
  };
}

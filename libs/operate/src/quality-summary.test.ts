import { describe, expect, it } from 'vitest';
import { formatQuality, qualitySummary } from './quality-summary.ts';

describe('the transforms and quality summary', () => {
  it('adds up rows by outcome and violations by rule per table', () => {
    const s = qualitySummary([
      {
        name: 'cdc_transform_records_total',
        labels: { stage: 'capture', table: 'public.orders', outcome: 'passed' },
        value: 10,
      },
      {
        name: 'cdc_transform_records_total',
        labels: { stage: 'capture', table: 'public.orders', outcome: 'filtered' },
        value: 2,
      },
      {
        name: 'cdc_transform_records_total',
        labels: { stage: 'capture', table: 'public.orders', outcome: 'quarantined' },
        value: 1,
      },
      {
        name: 'cdc_quality_violations_total',
        labels: { stage: 'capture', table: 'public.orders', rule: 'range:amount', action: 'quarantine' },
        value: 1,
      },
      { name: 'cdc_records_out_total', labels: { stage: 'capture', topic: 'x' }, value: 99 },
    ]);
    expect(formatQuality(s)).toEqual([
      'public.orders: passed 10, filtered 2, quarantined 1; violations: range:amount (quarantine) 1',
    ]);
  });
});

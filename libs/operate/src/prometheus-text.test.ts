import { describe, expect, it } from 'vitest';
import { byLabel, histogramQuantile, parsePrometheusText, sumOf } from './prometheus-text.ts';

const TEXT = `# HELP cdc_consumer_lag lag
# TYPE cdc_consumer_lag gauge
cdc_consumer_lag{group="g",topic="a",partition="0"} 3
cdc_consumer_lag{group="g",topic="b",partition="1"} 4
cdc_snapshot_rows_done{source="shop",table="public.orders"} 500
cdc_e2e_seconds_bucket{le="0.1"} 50
cdc_e2e_seconds_bucket{le="1"} 100
cdc_e2e_seconds_bucket{le="+Inf"} 100
`;

describe('Prometheus text', () => {
  const samples = parsePrometheusText(TEXT);
  it('sums a series over its labels, or by one label', () => {
    expect(sumOf(samples, 'cdc_consumer_lag')).toBe(7);
    expect(sumOf(samples, 'cdc_consumer_lag', { topic: 'b' })).toBe(4);
    expect(sumOf(samples, 'cdc_missing')).toBeUndefined();
    expect(byLabel(samples, 'cdc_snapshot_rows_done', 'table').get('public.orders')).toBe(500);
  });
  it('reads a quantile from histogram buckets', () => {
    expect(histogramQuantile(samples, 'cdc_e2e_seconds', 0.5)).toBeCloseTo(0.1);
    expect(histogramQuantile(samples, 'cdc_e2e_seconds', 0.75)).toBeCloseTo(0.55);
  });
});

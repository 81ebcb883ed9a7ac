import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { exportedSeriesNames, METRICS, type MetricSpec } from './catalogue.ts';
import { createMetrics } from './metrics.ts';

const specs = Object.values(METRICS) as MetricSpec[];

describe('the metric catalogue', () => {
  it('names every metric the Prometheus way', () => {
    for (const m of specs) {
      expect(m.name, m.name).toMatch(/^cdc_[a-z][a-z0-9_]*[a-z0-9]$/);
      expect(m.name.endsWith('_total'), `${m.name}: only counters end in _total`).toBe(m.kind === 'counter');
      if (m.unit === 's') expect(m.name, m.name).toMatch(/_seconds$/);
      if (m.unit === 'By') expect(m.name, m.name).toMatch(/_bytes$/);
      expect(m.description.length, m.name).toBeGreaterThan(10);
      for (const l of m.labels) expect(l, m.name).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(m.labels, `${m.name}: service_name is added to every series`).not.toContain('service_name');
    }
    expect(new Set(specs.map((m) => m.name)).size).toBe(specs.length);
  });

  it('declares the series the issue asks for, with their label sets', () => {
    const byName = new Map(specs.map((m) => [m.name, m]));
    const expected: Record<string, string[]> = {
      cdc_records_in_total: ['stage', 'topic'],
      cdc_records_out_total: ['stage', 'topic'],
      cdc_errors_total: ['stage', 'code'],
      cdc_dead_letter_total: ['topic', 'reason'],
      cdc_consumer_lag: ['group', 'topic', 'partition'],
      cdc_end_to_end_latency_seconds: ['topic'],
      cdc_snapshot_rows_done: ['source', 'table'],
      cdc_snapshot_rows_estimated: ['source', 'table'],
      cdc_snapshot_rows_per_second: ['source', 'table'],
      cdc_snapshot_eta_seconds: ['source', 'table'],
      cdc_slot_wal_retained_bytes: ['slot'],
      cdc_batch_size: ['stage'],
      cdc_transactions_total: ['stage', 'outcome'],
      cdc_state_restore_records: ['store'],
    };
    for (const [name, labels] of Object.entries(expected))
      expect(byName.get(name)?.labels, name).toEqual(labels);
    expect(byName.get('cdc_end_to_end_latency_seconds')?.kind).toBe('histogram');
    expect(byName.get('cdc_batch_size')?.kind).toBe('histogram');
  });

  it('gives histograms increasing bucket bounds and exports their three series', () => {
    const names = exportedSeriesNames();
    for (const m of specs.filter((s) => s.kind === 'histogram')) {
      const b = m.buckets ?? [];
      expect(b.length, m.name).toBeGreaterThan(3);
      expect(
        [...b].sort((x, y) => x - y),
        m.name,
      ).toEqual([...b]);
      for (const s of ['_bucket', '_sum', '_count']) expect(names.has(`${m.name}${s}`)).toBe(true);
      expect(names.has(m.name)).toBe(false);
    }
    expect(names.has('cdc_records_in_total')).toBe(true);
  });

  it('makes one working instrument per entry', () => {
    const metrics = createMetrics(new MeterProvider().getMeter('t'));
    expect(Object.keys(metrics).sort()).toEqual(Object.keys(METRICS).sort());
    metrics.recordsIn.add(1, { stage: 'capture', topic: 'shop.public.orders' });
    metrics.consumerLag.set(5, { group: 'g', topic: 't', partition: 0 });
    metrics.endToEndLatency.record(0.2, { topic: 't' });
    // @ts-expect-error: a label outside the catalogue does not compile
    metrics.errors.add(1, { stage: 'sink', code: 'SINK_REJECTED', table: 'x' });
  });
});

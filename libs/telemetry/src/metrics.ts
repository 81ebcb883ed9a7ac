import type { Meter } from '@opentelemetry/api';
import { type LabelsOf, METRICS, type MetricKey, type MetricSpec } from './catalogue.ts';

type Labels<K extends MetricKey> = { readonly [L in LabelsOf<K>]: string | number };

export interface CounterOf<K extends MetricKey> {
  /** Adds `value` (≥ 0) to the series named by `labels`. */
  add(value: number, labels: Labels<K>): void;
}
export interface GaugeOf<K extends MetricKey> {
  /** Sets the series named by `labels` to `value`. */
  set(value: number, labels: Labels<K>): void;
}
export interface HistogramOf<K extends MetricKey> {
  record(value: number, labels: Labels<K>): void;
}

type Kinds = { counter: 'counter'; gauge: 'gauge'; histogram: 'histogram' };
type InstrumentOf<K extends MetricKey> = (typeof METRICS)[K]['kind'] extends Kinds['counter']
  ? CounterOf<K>
  : (typeof METRICS)[K]['kind'] extends Kinds['gauge']
    ? GaugeOf<K>
    : HistogramOf<K>;

/** One typed instrument per catalogue entry: `metrics.recordsIn.add(3, { stage: 'sink', topic })`. */
export type Metrics = { readonly [K in MetricKey]: InstrumentOf<K> };

function attributes(labels: Record<string, string | number>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) out[k] = String(v);
  return out;
}

function instrument(
  meter: Meter,
  spec: MetricSpec,
): CounterOf<MetricKey> | GaugeOf<MetricKey> | HistogramOf<MetricKey> {
  const options = { description: spec.description, unit: spec.unit };
  switch (spec.kind) {
    case 'counter': {
      const c = meter.createCounter(spec.name, options);
      return { add: (value, labels) => c.add(value, attributes(labels)) };
    }
    case 'gauge': {
      const g = meter.createGauge(spec.name, options);
      return { set: (value, labels) => g.record(value, attributes(labels)) };
    }
    case 'histogram': {
      const h = meter.createHistogram(spec.name, {
        ...options,
        advice: spec.buckets ? { explicitBucketBoundaries: [...spec.buckets] } : {},
      });
      return { record: (value, labels) => h.record(value, attributes(labels)) };
    }
  }
}

/** Creates every instrument of the catalogue on `meter`. */
export function createMetrics(meter: Meter): Metrics {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(METRICS) as [MetricKey, MetricSpec][]) {
    out[key] = instrument(meter, spec);
  }
  return out as Metrics;
}

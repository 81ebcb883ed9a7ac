/**
 * What a pipeline did between two scrapes of its services' `/metrics`, from the services' own
 * counters (`libs/telemetry/src/catalogue.ts`): records per second per stage, consumer lag, the
 * end-to-end latency quantiles of the changes inserted in the interval (bucket deltas of the
 * sink's histogram) and snapshot progress. A figure whose service does not answer is
 * `undefined`, never guessed. Pure: the scraping is the caller's.
 */
import { histogramBuckets, type LabelFilter, quantileFromBuckets, type Sample } from './prometheus-text.ts';
import type { ServiceName } from './services.ts';
import type { StackState } from './state-dir.ts';
import { probeTelemetry } from './telemetry-probe.ts';

/** One scrape of every service: its samples, or why there are none. */
export interface Scrape {
  at: number;
  services: Partial<Record<ServiceName, Sample[] | { down: string }>>;
}

export const samplesOf = (s: Scrape, name: ServiceName): Sample[] | undefined => {
  const x = s.services[name];
  return Array.isArray(x) ? x : undefined;
};

const seriesKey = (s: Sample, without?: string) =>
  `${s.name}{${Object.entries(s.labels)
    .filter(([k]) => k !== without)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`;

/**
 * How much a counter grew from `prev` to `cur`, summed over its series that pass `where`. A
 * series that went down restarted (its process did): its current value is what it counted
 * since. A series absent before counts whole (counters appear at their first increment).
 * Undefined when either scrape lacks the service, or `cur` has no such series.
 */
export function counterIncrease(
  prev: readonly Sample[] | undefined,
  cur: readonly Sample[] | undefined,
  name: string,
  where: LabelFilter = () => true,
): number | undefined {
  if (!prev || !cur) return undefined;
  const before = new Map<string, number>();
  for (const s of prev) if (s.name === name && where(s.labels)) before.set(seriesKey(s), s.value);
  let found = false;
  let sum = 0;
  for (const s of cur) {
    if (s.name !== name || !where(s.labels)) continue;
    found = true;
    const b = before.get(seriesKey(s)) ?? 0;
    sum += s.value >= b ? s.value - b : s.value;
  }
  return found ? sum : undefined;
}

/** A gauge summed over its series that pass `where` (undefined: no such series). */
export function gaugeSum(
  cur: readonly Sample[] | undefined,
  name: string,
  where: LabelFilter = () => true,
): number | undefined {
  if (!cur) return undefined;
  let found = false;
  let sum = 0;
  for (const s of cur) {
    if (s.name !== name || !where(s.labels)) continue;
    found = true;
    sum += s.value;
  }
  return found ? sum : undefined;
}

/**
 * The observations a histogram got between two scrapes, as cumulative buckets (summed over the
 * series that pass `where`); a series whose buckets went down restarted and counts whole.
 */
export function histogramIncrease(
  prev: readonly Sample[],
  cur: readonly Sample[],
  name: string,
  where: LabelFilter = () => true,
): [number, number][] {
  const bucket = `${name}_bucket`;
  const group = (samples: readonly Sample[]) => {
    const m = new Map<string, Sample[]>();
    for (const s of samples) {
      if (s.name !== bucket || !where(s.labels)) continue;
      const k = seriesKey(s, 'le');
      m.set(k, [...(m.get(k) ?? []), s]);
    }
    return m;
  };
  const before = group(prev);
  const out: Sample[] = [];
  for (const [k, series] of group(cur)) {
    const old = new Map((before.get(k) ?? []).map((s) => [s.labels.le, s.value]));
    const reset = series.some((s) => s.value < (old.get(s.labels.le) ?? 0));
    for (const s of series)
      out.push({ ...s, value: reset ? s.value : s.value - (old.get(s.labels.le) ?? 0) });
  }
  return histogramBuckets(out, name);
}

export interface SnapshotProgress {
  service: ServiceName;
  table: string;
  done: number;
  estimated: number | undefined;
  /** Rows per second and seconds left, where the capture exports them (chunked snapshot). */
  rowsPerSecond?: number;
  etaSeconds?: number;
}

export interface PipelineRates {
  intervalS: number;
  /** Records each capture wrote to Kafka per second (`cdc_records_out_total{stage=capture}`). */
  captured: Partial<Record<ServiceName, number | undefined>>;
  /** Records the processor read from its CDC topics / wrote to its aggregate topics per second. */
  processedIn: number | undefined;
  processedOut: number | undefined;
  /** Records the sink inserted into ClickHouse per second (`cdc_records_out_total{stage=sink}`). */
  written: number | undefined;
  /** `cdc_consumer_lag` of the processor's and the sink's groups. */
  processorLag: number | undefined;
  sinkLag: number | undefined;
  /** Changes the processor counted as late (for windows past their retention) since it started. */
  lateRecords: number | undefined;
  /** End-to-end latency (source commit → ClickHouse insert) of the changes inserted over `latencyWindowS`. */
  latency: { p50: number; p99: number; count: number } | undefined;
  latencyWindowS: number;
  snapshot: SnapshotProgress[];
}

const CAPTURES: ServiceName[] = ['capture-postgres', 'capture-mongo'];

/**
 * The figures between `prev` and `cur`; the latency over `latencyBase` → `cur` (a longer window
 * than one second gives quantiles over more changes). `latencyTopics` selects the topics whose
 * inserts carry a source commit time (the aggregates' records carry their window's event time).
 */
export function pipelineRates(
  prev: Scrape,
  cur: Scrape,
  latencyBase: Scrape,
  latencyTopics: LabelFilter = () => true,
): PipelineRates {
  const dt = Math.max(0.001, (cur.at - prev.at) / 1000);
  const per = (n: number | undefined) => (n === undefined ? undefined : n / dt);
  const stage = (st: string) => (l: Record<string, string>) => l.stage === st;
  const captured: PipelineRates['captured'] = {};
  for (const c of CAPTURES) {
    if (!(c in cur.services)) continue;
    captured[c] = per(
      counterIncrease(samplesOf(prev, c), samplesOf(cur, c), 'cdc_records_out_total', stage('capture')) ??
        (samplesOf(prev, c) && samplesOf(cur, c) ? 0 : undefined),
    );
  }
  const proc = [samplesOf(prev, 'processor'), samplesOf(cur, 'processor')] as const;
  const sink = [samplesOf(prev, 'sink-clickhouse'), samplesOf(cur, 'sink-clickhouse')] as const;
  const zeroIfUp = (n: number | undefined, up: boolean) => (n === undefined && up ? 0 : n);
  const procUp = proc[0] !== undefined && proc[1] !== undefined;
  const sinkUp = sink[0] !== undefined && sink[1] !== undefined;
  let latency: PipelineRates['latency'];
  const base = samplesOf(latencyBase, 'sink-clickhouse');
  if (base && sink[1]) {
    const buckets = histogramIncrease(base, sink[1], 'cdc_end_to_end_latency_seconds', latencyTopics);
    const count = buckets.at(-1)?.[1] ?? 0;
    const p50 = quantileFromBuckets(buckets, 0.5);
    const p99 = quantileFromBuckets(buckets, 0.99);
    if (p50 !== undefined && p99 !== undefined) latency = { p50, p99, count };
  }
  const snapshot: SnapshotProgress[] = [];
  for (const c of CAPTURES) {
    const s = samplesOf(cur, c);
    if (!s) continue;
    const est = new Map<string, number>();
    const rate = new Map<string, number>();
    const eta = new Map<string, number>();
    for (const x of s) {
      const t = x.labels.table ?? '';
      if (x.name === 'cdc_snapshot_rows_estimated') est.set(t, x.value);
      if (x.name === 'cdc_snapshot_rows_per_second') rate.set(t, x.value);
      if (x.name === 'cdc_snapshot_eta_seconds') eta.set(t, x.value);
    }
    for (const x of s)
      if (x.name === 'cdc_snapshot_rows_done') {
        const t = x.labels.table ?? '';
        snapshot.push({
          service: c,
          table: t,
          done: x.value,
          estimated: est.get(t),
          ...(rate.has(t) ? { rowsPerSecond: rate.get(t) } : {}),
          ...(eta.has(t) ? { etaSeconds: eta.get(t) } : {}),
        });
      }
  }
  snapshot.sort((a, b) => a.table.localeCompare(b.table));
  return {
    intervalS: dt,
    captured,
    processedIn: per(
      zeroIfUp(counterIncrease(proc[0], proc[1], 'cdc_records_in_total', stage('process')), procUp),
    ),
    processedOut: per(
      zeroIfUp(counterIncrease(proc[0], proc[1], 'cdc_records_out_total', stage('process')), procUp),
    ),
    written: per(zeroIfUp(counterIncrease(sink[0], sink[1], 'cdc_records_out_total', stage('sink')), sinkUp)),
    processorLag: zeroIfUp(gaugeSum(proc[1], 'cdc_consumer_lag'), proc[1] !== undefined),
    sinkLag: zeroIfUp(gaugeSum(sink[1], 'cdc_consumer_lag'), sink[1] !== undefined),
    lateRecords: zeroIfUp(gaugeSum(proc[1], 'cdc_late_records_total'), proc[1] !== undefined),
    latency,
    latencyWindowS: Math.max(0, (cur.at - latencyBase.at) / 1000),
    snapshot,
  };
}

/** One scrape of `/metrics` of each service of a pipeline `cdc up` runs (those not started: "not running"). */
export async function scrapeServices(
  state: StackState | undefined,
  services: readonly ServiceName[],
): Promise<Scrape> {
  const out: Scrape = { at: Date.now(), services: {} };
  await Promise.all(
    services.map(async (name) => {
      const s = state?.services[name];
      if (!s) {
        out.services[name] = { down: 'not running' };
        return;
      }
      const p = await probeTelemetry(s.telemetryPort, 2_000);
      out.services[name] = p.reachable ? p.samples : { down: 'no answer on its telemetry port' };
    }),
  );
  out.at = Date.now();
  return out;
}

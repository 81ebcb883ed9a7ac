import { describe, expect, it } from 'vitest';
import { counterIncrease, histogramIncrease, pipelineRates, type Scrape } from './pipeline-rates.ts';
import { parsePrometheusText, quantileFromBuckets } from './prometheus-text.ts';

const BUCKETS = [0.1, 0.5, 1, 10];
/** The sink's latency histogram for one topic, with cumulative counts per bucket (and +Inf). */
function latency(topic: string, counts: number[]): string {
  return [...BUCKETS.map((le, i) => [String(le), counts[i]]), ['+Inf', counts.at(-1)]]
    .map(([le, n]) => `cdc_end_to_end_latency_seconds_bucket{topic="${topic}",le="${le}"} ${n}`)
    .join('\n');
}

const sinkAt = (out: number, counts: number[], agg: number[]) =>
  parsePrometheusText(`cdc_records_out_total{stage="sink",topic="shop.orders"} ${out}
cdc_consumer_lag{group="sink",topic="shop.orders",partition="0"} 4
cdc_consumer_lag{group="sink",topic="shop.orders",partition="1"} 2
${latency('shop.orders', counts)}
${latency('shop.agg.x', agg)}
`);

describe('counters between two scrapes', () => {
  it('sums the growth of every matching series; a series that went down restarted', () => {
    const a = parsePrometheusText(
      'c_total{stage="capture",topic="a"} 100\nc_total{stage="capture",topic="b"} 50\n',
    );
    const b = parsePrometheusText(
      'c_total{stage="capture",topic="a"} 130\nc_total{stage="capture",topic="b"} 7\nc_total{stage="capture",topic="new"} 5\nc_total{stage="sink",topic="a"} 99\n',
    );
    // a: +30; b restarted: 7; new since the last scrape: 5; the sink stage filtered out
    expect(counterIncrease(a, b, 'c_total', (l) => l.stage === 'capture')).toBe(42);
    expect(counterIncrease(undefined, b, 'c_total')).toBeUndefined();
    expect(counterIncrease(a, b, 'missing_total')).toBeUndefined();
  });
});

describe('latency quantiles from histogram deltas', () => {
  it('takes the quantiles of the observations between the scrapes only', () => {
    // before: 1000 slow snapshot rows (1..10 s); then 100 live changes, 90 under 0.1 s, 10 in 0.1..0.5 s
    const before = sinkAt(1000, [0, 0, 0, 1000, 1000], [0, 0, 0, 0, 0]);
    const after = sinkAt(1100, [90, 100, 100, 1100, 1100], [0, 0, 0, 0, 0]);
    const d = histogramIncrease(before, after, 'cdc_end_to_end_latency_seconds');
    expect(d.at(-1)).toEqual([Number.POSITIVE_INFINITY, 100]);
    expect(quantileFromBuckets(d, 0.5)).toBeCloseTo(0.1 * (50 / 90));
    expect(quantileFromBuckets(d, 0.99)).toBeCloseTo(0.1 + 0.4 * (9 / 10));
    // over the whole life of the histogram the snapshot dominates
    expect(
      quantileFromBuckets(histogramIncrease([], after, 'cdc_end_to_end_latency_seconds'), 0.5),
    ).toBeGreaterThan(1);
  });
  it('answers nothing when nothing was inserted, and the highest finite bound past it', () => {
    expect(
      quantileFromBuckets(
        [
          [1, 0],
          [Number.POSITIVE_INFINITY, 0],
        ],
        0.5,
      ),
    ).toBeUndefined();
    expect(
      quantileFromBuckets(
        [
          [1, 1],
          [Number.POSITIVE_INFINITY, 10],
        ],
        0.99,
      ),
    ).toBe(1);
  });
});

describe('pipeline rates', () => {
  const capture = (n: number) =>
    parsePrometheusText(`cdc_records_out_total{stage="capture",topic="shop.orders"} ${n}
cdc_snapshot_rows_done{source="shop",table="public.orders"} 500
cdc_snapshot_rows_estimated{source="shop",table="public.orders"} 1000
cdc_snapshot_rows_per_second{source="shop",table="public.orders"} 250
cdc_snapshot_eta_seconds{source="shop",table="public.orders"} 2
`);
  const prev: Scrape = {
    at: 10_000,
    services: {
      'capture-postgres': capture(1000),
      'capture-mongo': { down: 'not running' },
      'sink-clickhouse': sinkAt(900, [0, 0, 0, 900, 900], [0, 0, 0, 0, 0]),
    },
  };
  const cur: Scrape = {
    at: 12_000,
    services: {
      'capture-postgres': capture(1400),
      'capture-mongo': { down: 'not running' },
      'sink-clickhouse': sinkAt(1300, [300, 400, 400, 1300, 1300], [0, 0, 0, 0, 400]),
    },
  };
  const r = pipelineRates(prev, cur, prev, (l) => !l.topic?.startsWith('shop.agg.'));
  it('gives records per second per stage from the services’ counters, n/a for a service that does not answer', () => {
    expect(r.intervalS).toBe(2);
    expect(r.captured['capture-postgres']).toBe(200);
    expect(r.captured['capture-mongo']).toBeUndefined();
    expect('processor' in r.captured).toBe(false);
    expect(r.processedIn).toBeUndefined();
    expect(r.written).toBe(200);
    expect(r.sinkLag).toBe(6);
    expect(r.processorLag).toBeUndefined();
    expect(r.lateRecords).toBeUndefined();
  });
  it('counts the late records the processor reports, 0 when it reports none yet', () => {
    const proc = (late: string) =>
      parsePrometheusText(`cdc_records_in_total{stage="process",topic="shop.orders"} 5\n${late}`);
    const at = (p: Scrape['services']['processor'], ms: number): Scrape => ({
      at: ms,
      services: { processor: p },
    });
    const none = pipelineRates(at(proc(''), 0), at(proc(''), 1_000), at(proc(''), 0));
    expect(none.lateRecords).toBe(0);
    const some = proc(
      'cdc_late_records_total{application="app"} 3\ncdc_late_records_total{application="other"} 1\n',
    );
    expect(pipelineRates(at(some, 0), at(some, 1_000), at(some, 0)).lateRecords).toBe(4);
  });
  it('leaves the aggregate topics out of the end-to-end latency', () => {
    expect(r.latency?.count).toBe(400);
    expect(r.latency?.p50).toBeCloseTo(0.1 * (200 / 300));
    expect(r.latencyWindowS).toBe(2);
  });
  it('reads snapshot progress per table', () => {
    expect(r.snapshot).toEqual([
      {
        service: 'capture-postgres',
        table: 'public.orders',
        done: 500,
        estimated: 1000,
        rowsPerSecond: 250,
        etaSeconds: 2,
      },
    ]);
  });
});

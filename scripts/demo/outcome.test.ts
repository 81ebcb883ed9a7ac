import type { PartitionLag } from '@cdc/operate';
import { describe, expect, it } from 'vitest';
import {
  type CatchUpResult,
  type CatchUpRule,
  catchUpReason,
  catchUpStep,
  crashesSince,
  type DemoFacts,
  finalLine,
  formatBehind,
  outcome,
  type ServiceCheck,
  serviceLabel,
  serviceReasons,
  startCatchUp,
  totalLag,
  verifyOutcome,
  verifySkipReason,
} from './outcome.ts';

const SINCE = Date.parse('2025-01-01T12:00:00Z');
const exit = (at: string, lastError: string, code: number | null = 1) => ({
  at,
  code,
  signal: null,
  lastError,
});
const lag = (topic: string, partition: number, n: bigint): PartitionLag => ({
  topic,
  partition,
  committed: 0n,
  end: n,
  lag: n,
});
const rule: CatchUpRule = { stallMs: 60_000, timeoutMs: 900_000, settleMs: 3_000 };
const caughtUp: CatchUpResult = { verdict: 'caught-up', elapsedMs: 5_000, rule, lags: [] };
const healthy = (name: ServiceCheck['name']): ServiceCheck => ({
  name,
  record: { pid: 100, restarts: 0, exits: [], crashLoop: false },
  running: true,
  readiness: { ready: true },
});
const passing = (): DemoFacts => ({
  sinceMs: SINCE,
  services: [
    healthy('capture-postgres'),
    healthy('capture-mongo'),
    healthy('processor'),
    healthy('sink-clickhouse'),
  ],
  skipped: [],
  catchUp: caughtUp,
  verify: { ran: true, ok: true },
  analytics: [
    { name: 'revenue per region', rows: 12 },
    { name: 'top products', rows: 5 },
    { name: 'cart sessions', rows: 5 },
  ],
});

describe('a service', () => {
  it('counts only the exits of this run, and reads a state file without exits', () => {
    const record = {
      pid: 1,
      exits: [exit('2025-01-01T11:59:00Z', 'old run'), exit('2025-01-01T12:00:05Z', 'this run')],
    };
    expect(crashesSince(record, SINCE).map((e) => e.lastError)).toEqual(['this run']);
    expect(crashesSince({ pid: 1 }, SINCE)).toEqual([]);
    expect(crashesSince(undefined, SINCE)).toEqual([]);
  });

  it('that crashed fails the demo even when it was restarted and is ready', () => {
    const c: ServiceCheck = {
      ...healthy('processor'),
      record: {
        pid: 200,
        restarts: 1,
        exits: [exit('2025-01-01T12:00:03Z', 'CdcError: UNKNOWN_TOPIC demo.public.orders\n    at main.js:1')],
      },
    };
    expect(serviceReasons(c, SINCE)).toEqual([
      'processor crashed 1× (last error: CdcError: UNKNOWN_TOPIC demo.public.orders)',
    ]);
  });

  it('that is gone names its last error, or its last log line when the state records no exit', () => {
    const crashed: ServiceCheck = {
      name: 'sink-clickhouse',
      record: { pid: 0, restarts: 5, crashLoop: true, exits: [exit('2025-01-01T12:01:00Z', '', null)] },
      running: false,
    };
    expect(serviceReasons(crashed, SINCE)).toEqual([
      'sink-clickhouse crashed 1× (crash loop) (last error: exit code ?); it is not running at the end',
    ]);
    const oldState: ServiceCheck = {
      name: 'processor',
      record: { pid: 4321 },
      running: false,
      lastLogLine: '{"level":"error","msg":"no topic matches demo.public.orders"}\n',
    };
    expect(serviceReasons(oldState, SINCE)).toEqual([
      'processor is not running at the end (last log line: {"level":"error","msg":"no topic matches demo.public.orders"})',
    ]);
  });

  it('that runs but is not ready, or was never started, fails the demo', () => {
    expect(
      serviceReasons(
        { ...healthy('sink-clickhouse'), readiness: { ready: false, detail: 'clickhouse: down' } },
        SINCE,
      ),
    ).toEqual(['sink-clickhouse is not ready at the end (clickhouse: down)']);
    expect(serviceReasons({ name: 'capture-mongo', record: undefined, running: false }, SINCE)).toEqual([
      'capture-mongo was not started',
    ]);
    expect(serviceReasons(healthy('processor'), SINCE)).toEqual([]);
  });

  it('shows restarts and exits in the live view', () => {
    expect(serviceLabel('processor', { pid: 10 }, true)).toBe('processor');
    expect(serviceLabel('processor', { pid: 10, restarts: 1 }, true)).toBe('processor (restarted 1×)');
    expect(serviceLabel('processor', { pid: 0, restarts: 2 }, false)).toBe(
      'processor (waiting to restart, restarted 2×)',
    );
    expect(serviceLabel('sink-clickhouse', { pid: 0, restarts: 5, crashLoop: true }, false)).toBe(
      'sink-clickhouse (crash loop, exited, restarted 5×)',
    );
    expect(serviceLabel('processor', { pid: 10 }, false)).toBe('processor (exited)');
  });
});

describe('the catch-up', () => {
  const run = (samples: [number, bigint | undefined][]) => {
    let p = startCatchUp(0);
    const verdicts: string[] = [];
    for (const [at, l] of samples) {
      const s = catchUpStep(p, at, l, rule);
      p = s.progress;
      verdicts.push(s.verdict);
    }
    return verdicts;
  };

  it('counts a partition behind by its commit marker only as caught up', () => {
    expect(totalLag([lag('a', 0, 1n), lag('a', 1, 0n), lag('b', 0, 40n)])).toBe(40n);
  });

  it('waits past the stall time while the lag keeps shrinking', () => {
    const samples: [number, bigint][] = [];
    for (let s = 0; s <= 200; s += 10) samples.push([s * 1000, BigInt(10_000 - s * 10)]);
    expect(run(samples).every((v) => v === 'waiting')).toBe(true);
  });

  it('gives up when the lag has not shrunk for the stall time', () => {
    expect(
      run([
        [0, 500n],
        [30_000, 400n],
        [60_000, 400n],
        [89_000, 450n],
        [90_000, 450n],
      ]),
    ).toEqual(['waiting', 'waiting', 'waiting', 'waiting', 'stalled']);
  });

  it('takes a lag that rose and fell again for progress (a group committed further)', () => {
    expect(
      run([
        [0, 500n],
        [50_000, 900n],
        [80_000, 600n],
        [130_000, 600n],
      ]),
    ).toEqual(['waiting', 'waiting', 'waiting', 'waiting']);
  });

  it('gives up when the lag cannot be read for the stall time', () => {
    expect(
      run([
        [0, undefined],
        [60_000, undefined],
      ]),
    ).toEqual(['waiting', 'stalled']);
  });

  it('is caught up at no lag once the last changes had time to arrive', () => {
    expect(
      run([
        [0, 0n],
        [1_000, 0n],
        [3_000, 0n],
      ]),
    ).toEqual(['waiting', 'waiting', 'caught-up']);
  });

  it('is not caught up at no lag while the capture has not read the source to where it was', () => {
    let p = startCatchUp(0);
    const verdicts: string[] = [];
    for (const [at, captured] of [
      [3_000, false],
      [4_000, false],
      [5_000, true],
    ] as const) {
      const s = catchUpStep(p, at, 0n, rule, captured);
      p = s.progress;
      verdicts.push(s.verdict);
    }
    expect(verdicts).toEqual(['waiting', 'waiting', 'caught-up']);
  });

  it('gives up at the overall bound even while the lag shrinks', () => {
    const samples: [number, bigint][] = [];
    for (let s = 0; s <= 900; s += 10) samples.push([s * 1000, BigInt(1_000_000 - s)]);
    expect(run(samples).at(-1)).toBe('timed-out');
  });

  it('says which partitions are behind, the most behind first', () => {
    const lags = [
      lag('demo.public.orders', 0, 1n),
      lag('demo.public.orders', 1, 12n),
      lag('demo.agg', 0, 300n),
    ];
    expect(formatBehind(lags)).toBe('demo.agg[0] 300, demo.public.orders[1] 12');
    expect(catchUpReason({ verdict: 'stalled', elapsedMs: 75_000, rule, lags })).toBe(
      'the pipeline did not catch up: its lag did not shrink for 60 s (behind: demo.agg[0] 300, demo.public.orders[1] 12)',
    );
    expect(catchUpReason({ verdict: 'timed-out', elapsedMs: 900_000, rule, lags })).toMatch(
      /^the pipeline did not catch up: within 900 s \(behind: /,
    );
    expect(catchUpReason({ verdict: 'interrupted', elapsedMs: 42_000, rule, lags })).toMatch(
      /^the pipeline did not catch up: interrupted after 42 s \(behind: /,
    );
    expect(catchUpReason(caughtUp)).toBeUndefined();
  });

  it('names the capture when it is behind, and only it when every group is drained', () => {
    const capture = { slot: 'cdc_demo', lsn: '0/1A2B3C0', target: '0/1A2C000', done: false };
    expect(
      catchUpReason({ verdict: 'stalled', elapsedMs: 75_000, rule, lags: [lag('demo.agg', 0, 0n)], capture }),
    ).toBe(
      "the pipeline did not catch up: its lag did not shrink for 60 s (behind: the capture (slot cdc_demo at 0/1A2B3C0 of the source's 0/1A2C000))",
    );
    expect(
      catchUpReason({
        verdict: 'timed-out',
        elapsedMs: 900_000,
        rule,
        lags: [lag('demo.agg', 0, 30n)],
        capture,
      }),
    ).toBe(
      "the pipeline did not catch up: within 900 s (behind: the capture (slot cdc_demo at 0/1A2B3C0 of the source's 0/1A2C000), demo.agg[0] 30)",
    );
    expect(
      catchUpReason({
        verdict: 'stalled',
        elapsedMs: 75_000,
        rule,
        lags: [],
        capture: { ...capture, done: true },
      }),
    ).toBe('the pipeline did not catch up: its lag did not shrink for 60 s (behind: lag unknown)');
  });
});

describe('verify', () => {
  it('is skipped when the pipeline did not catch up or a service is not running', () => {
    const services = passing().services;
    expect(verifySkipReason(caughtUp, services)).toBeUndefined();
    expect(verifySkipReason({ ...caughtUp, verdict: 'stalled' }, services)).toBe(
      'the pipeline did not catch up',
    );
    expect(
      verifySkipReason(caughtUp, [
        ...services.slice(0, 3),
        { ...healthy('sink-clickhouse'), running: false },
      ]),
    ).toBe('not running: sink-clickhouse');
  });

  it("summarises verify's report", () => {
    expect(verifyOutcome({ ok: true, tables: [{ match: true }], problems: [] })).toEqual({
      ran: true,
      ok: true,
    });
    expect(
      verifyOutcome({ ok: false, tables: [{ match: true }, { match: false }], problems: ['x'] }),
    ).toEqual({
      ran: true,
      ok: false,
      failure: '1 of 2 table(s) differ, 1 problem(s)',
    });
  });
});

describe('the outcome', () => {
  it('passes only when everything did, and says so', () => {
    const f = passing();
    const o = outcome(f);
    expect(o).toEqual({ ok: true, reasons: [] });
    expect(finalLine(f, o, 140_400)).toBe(
      'demo passed in 140 s: verify passed, 3 analytics queries printed rows, no service crashed',
    );
  });

  it('names services not in the checkout and skipped queries when it passes', () => {
    const f: DemoFacts = {
      ...passing(),
      skipped: ['capture-mongo'],
      analytics: [
        { name: 'revenue per region', rows: 3 },
        { name: 'top products', rows: 5 },
        { name: 'cart sessions', skipped: 'capture-mongo not in this checkout' },
      ],
    };
    expect(finalLine(f, outcome(f), 90_000)).toBe(
      'demo passed in 90 s: verify passed, 2 analytics queries printed rows (1 skipped), no service crashed (not in this checkout: capture-mongo)',
    );
  });

  it('fails with every reason: a restarted service and analytics that failed or printed nothing, verify passing', () => {
    const f: DemoFacts = {
      ...passing(),
      services: [
        ...passing().services.slice(0, 2),
        {
          ...healthy('processor'),
          record: { pid: 300, restarts: 1, exits: [exit('2025-01-01T12:00:02Z', 'no topic matches')] },
        },
        passing().services[3]!,
      ],
      analytics: [
        { name: 'revenue per region', error: 'Code: 60. DB::Exception: UNKNOWN_TABLE\nstack' },
        { name: 'top products', rows: 0 },
        { name: 'cart sessions', rows: 4 },
      ],
    };
    const o = outcome(f);
    expect(o.ok).toBe(false);
    expect(finalLine(f, o, 312_000)).toBe(
      'demo FAILED in 312 s: processor crashed 1× (last error: no topic matches); ' +
        'analytics query "revenue per region" failed: Code: 60. DB::Exception: UNKNOWN_TABLE; ' +
        'analytics query "top products" printed no rows',
    );
  });

  it('fails when the pipeline did not catch up, and says verify was skipped', () => {
    const f: DemoFacts = {
      ...passing(),
      services: [...passing().services.slice(0, 3), { ...healthy('sink-clickhouse'), running: false }],
      catchUp: { verdict: 'stalled', elapsedMs: 61_000, rule, lags: [lag('demo.public.orders', 0, 50n)] },
      verify: { ran: false, why: 'the pipeline did not catch up' },
    };
    expect(outcome(f).reasons).toEqual([
      'sink-clickhouse is not running at the end',
      'the pipeline did not catch up: its lag did not shrink for 60 s (behind: demo.public.orders[0] 50)',
      'verify skipped',
    ]);
  });

  it('fails when verify fails', () => {
    const f: DemoFacts = {
      ...passing(),
      verify: { ran: true, ok: false, failure: '1 of 6 table(s) differ' },
    };
    expect(outcome(f).reasons).toEqual(['verify FAILED (1 of 6 table(s) differ)']);
  });

  it('fails when an aggregate does not equal its source, and says how many equal when they do', () => {
    const equal = {
      aggregate: 'revenue_by_region_1m',
      ok: true,
      line: 'revenue_by_region_1m: 87,260 orders in aggregates = 87,260 in the source (412 windows × groups, 0 differ)',
    };
    const good: DemoFacts = { ...passing(), reconciled: [equal] };
    expect(finalLine(good, outcome(good), 140_400)).toBe(
      'demo passed in 140 s: verify passed, 3 analytics queries printed rows, 1 aggregates equal their source, no service crashed',
    );
    const bad: DemoFacts = {
      ...passing(),
      reconciled: [
        equal,
        {
          aggregate: 'top_products_15m',
          ok: false,
          line: 'top_products_15m: 6,000 lines in aggregates ≠ 6,003 in the source (90 windows × groups, 1 differ)',
        },
      ],
    };
    expect(outcome(bad).reasons).toEqual([
      'aggregate top_products_15m does not equal its source (6,000 lines in aggregates ≠ 6,003 in the source (90 windows × groups, 1 differ))',
    ]);
  });
});

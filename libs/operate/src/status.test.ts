import { describe, expect, it } from 'vitest';
import type { ServiceExit, ServiceState } from './state-dir.ts';
import {
  describePosition,
  exitHistory,
  formatEta,
  formatStatus,
  type PipelineStatus,
  type ServiceStatus,
  statusOk,
} from './status.ts';

const now = Date.parse('2025-01-01T12:00:00Z');
const exit = (secondsAgo: number, code: number | null, lastError = ''): ServiceExit => ({
  at: new Date(now - secondsAgo * 1_000).toISOString(),
  code,
  signal: code === null ? 'SIGKILL' : null,
  lastError,
});
const service = (exits: ServiceExit[]): ServiceState => ({
  pid: 42,
  telemetryPort: 9464,
  startedAt: new Date(now).toISOString(),
  log: '/x/processor.log',
  restarts: exits.length,
  exits,
  crashLoop: false,
});

describe('exitHistory', () => {
  it('shows restarts and the last exit, and no crash loop for a few exits', () => {
    const h = exitHistory(service([exit(200, null), exit(30, 1, 'cannot join: KAFKA_UNAVAILABLE')]), now);
    expect(h).toMatchObject({ restarts: 2, crashLoop: false, crashLoopHealth: null });
    expect(h.lastExit).toMatchObject({ code: 1, lastError: 'cannot join: KAFKA_UNAVAILABLE' });
  });

  it('calls 5 exits within 5 minutes a crash loop, judged as of now', () => {
    const exits = [250, 200, 100, 50, 10].map((s) => exit(s, 2));
    expect(exitHistory(service(exits), now)).toMatchObject({
      crashLoop: true,
      crashLoopHealth: 'crash loop: 5 exits in 5 min',
    });
    expect(exitHistory(service(exits), now + 60_000).crashLoop).toBe(false);
  });

  it('reads state.json written before the supervisor existed (no restarts, no exits)', () => {
    const old = { pid: 42, telemetryPort: 9464, startedAt: 't', log: 'l' } as ServiceState;
    expect(exitHistory(old, now)).toEqual({
      restarts: 0,
      lastExit: null,
      crashLoop: false,
      crashLoopHealth: null,
    });
  });
});

describe('status of a crash-looping service', () => {
  const row: ServiceStatus = {
    name: 'processor',
    pid: 42,
    alive: true,
    uptimeS: 1,
    health: 'crash loop: 6 exits in 5 min',
    restarts: 6,
    lastExit: exit(3, 2, 'the pipeline file declares no processing'),
    crashLoop: true,
    snapshot: null,
    consumerLag: null,
    position: null,
    attention: {},
  };
  const s: PipelineStatus = {
    config: 'p.yaml',
    supervisor: { pid: 7, alive: true },
    services: [row],
    sinkLag: null,
    positions: {},
    problems: [],
  };

  it('fails even while the process happens to run, and says why', () => {
    expect(statusOk(s)).toBe(false);
    expect(statusOk({ ...s, services: [{ ...row, crashLoop: false }] })).toBe(true);
    const text = formatStatus(s);
    expect(text).toContain('supervisor pid 7');
    expect(text).toContain('processor  pid 42      up 1s  crash loop: 6 exits in 5 min');
    expect(text).toContain(
      'restarts 6, last exit code 2 at 2025-01-01T11:59:57.000Z: the pipeline file declares no processing',
    );
  });
});

describe('status of a sink with a stopped table', () => {
  const row: ServiceStatus = {
    name: 'sink-clickhouse',
    pid: 43,
    alive: true,
    uptimeS: 9,
    health: 'ready',
    restarts: 0,
    lastExit: null,
    crashLoop: false,
    snapshot: null,
    consumerLag: 0,
    position: null,
    attention: {
      'table shop_public_orders':
        'stopped (its records are held, the other tables flow): SCHEMA_INCOMPATIBLE: column total changes type; cdc down; cdc rebuild shop_public_orders; cdc up',
    },
  };
  const s: PipelineStatus = {
    config: 'p.yaml',
    supervisor: { pid: 7, alive: true },
    services: [row],
    sinkLag: null,
    positions: {},
    problems: [],
  };

  it('prints the table, the message and the fix, and fails although every service is ready', () => {
    expect(formatStatus(s)).toContain(
      'attention: table shop_public_orders: stopped (its records are held, the other tables flow): SCHEMA_INCOMPATIBLE: column total changes type; cdc down; cdc rebuild shop_public_orders; cdc up',
    );
    expect(statusOk(s)).toBe(false);
    expect(statusOk({ ...s, services: [{ ...row, attention: {} }] })).toBe(true);
  });
});

describe('status of a capture taking its snapshot', () => {
  const row: ServiceStatus = {
    name: 'capture-postgres',
    pid: 44,
    alive: true,
    uptimeS: 30,
    health: 'ready',
    restarts: 0,
    lastExit: null,
    crashLoop: false,
    snapshot: {
      'public.orders': { done: 1_200_000, estimated: 5_000_000, rowsPerSecond: 40_000, etaSeconds: 95 },
    },
    consumerLag: null,
    position: null,
    attention: {},
  };
  const s: PipelineStatus = {
    config: 'p.yaml',
    supervisor: { pid: 7, alive: true },
    services: [row],
    sinkLag: null,
    positions: {},
    problems: [],
  };

  it('prints rows done, estimated, rate and time left per table', () => {
    expect(formatStatus(s)).toContain(
      'snapshot public.orders: 1200000 / ~5000000 (24%), 40000 rows/s, ETA 1m35s',
    );
  });
});

describe('formatEta', () => {
  it('prints hours and minutes, minutes and seconds, or seconds', () => {
    expect(formatEta(3725)).toBe('1h02m');
    expect(formatEta(185)).toBe('3m05s');
    expect(formatEta(42.4)).toBe('42s');
  });
});

describe('describePosition', () => {
  it('says how far a chunked snapshot got, and when it is done', () => {
    const base = { kind: 'postgres', commitLsn: '0/1A2B3C', index: 0, complete: true };
    const snapshot = { id: 's', consistentPoint: '0/10', tables: [] };
    expect(
      describePosition({
        ...base,
        snapshot: { ...snapshot, chunked: ['public.orders'] },
        incremental: { id: 'init-1', table: 'public.orders', lastKey: ['9'], initial: true, rowsDone: 40000 },
      }),
    ).toBe('commit lsn 0/1A2B3C, snapshot in chunks: 1 table(s) left (public.orders: 40000 rows committed)');
    expect(describePosition({ ...base, snapshot: { ...snapshot, chunked: [] } })).toBe(
      'commit lsn 0/1A2B3C, snapshot done',
    );
  });
});

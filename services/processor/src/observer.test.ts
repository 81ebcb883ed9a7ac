import type { Telemetry } from '@cdc/telemetry';
import { describe, expect, it } from 'vitest';
import { restoreProgress } from './observer.ts';

/** The gauges' last values by store, as Prometheus would scrape them. */
function gauges() {
  const values = { restored: new Map<string, number>(), estimated: new Map<string, number>() };
  const telemetry = {
    metrics: {
      stateRestoreRecords: { set: (v: number, l: { store: string }) => values.restored.set(l.store, v) },
      stateRestoreRecordsEstimated: {
        set: (v: number, l: { store: string }) => values.estimated.set(l.store, v),
      },
    },
  } as unknown as Telemetry;
  return { telemetry, values };
}

describe('restoreProgress', () => {
  it('sums each store over the stream threads, each thread reporting its own running totals', () => {
    const { telemetry, values } = gauges();
    const report = restoreProgress(telemetry);
    report(0, { rows: { restored: 10, estimated: 40 } });
    report(1, { rows: { restored: 5, estimated: 20 }, counts: { restored: 3, estimated: 3 } });
    expect(values.restored.get('rows')).toBe(15);
    expect(values.estimated.get('rows')).toBe(60);
    expect(values.restored.get('counts')).toBe(3);
    // A thread's later report replaces its earlier one: nothing is counted twice.
    report(0, { rows: { restored: 40, estimated: 40 } });
    expect(values.restored.get('rows')).toBe(45);
    expect(values.estimated.get('rows')).toBe(60);
  });
});

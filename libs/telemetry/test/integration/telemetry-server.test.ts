/**
 * A service's telemetry listener on an ephemeral 127.0.0.1 port, scraped over HTTP as Prometheus
 * and a kubelet would: no external server involved.
 */
import { noopLogger } from '@cdc/core';
import { afterEach, describe, expect, it } from 'vitest';
import { exportedSeriesNames, METRICS, type MetricSpec } from '../../src/catalogue.ts';
import type { ReadinessReport } from '../../src/readiness.ts';
import { createTelemetry, type Telemetry } from '../../src/telemetry.ts';

let telemetry: Telemetry | undefined;
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(l);
      if (m === null) throw new Error(`not a Prometheus sample: ${l}`);
      const labels = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
      );
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
}

function value(all: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return all.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

function start(service = 'sink-clickhouse'): Telemetry {
  telemetry = createTelemetry({
    service,
    version: '1.2.3',
    config: { http: { host: '127.0.0.1', port: 0 } },
    logger: noopLogger,
  });
  return telemetry;
}

describe('the telemetry listener', () => {
  it('serves every instrument on /metrics in Prometheus text, labelled with the service', async () => {
    const t = start();
    const { url } = await t.start();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    t.metrics.recordsIn.add(7, { stage: 'sink', topic: 'shop.public.orders' });
    t.metrics.recordsOut.add(7, { stage: 'sink', topic: 'shop.public.orders' });
    t.metrics.errors.add(1, { stage: 'sink', code: 'SINK_UNAVAILABLE' });
    t.metrics.deadLetters.add(2, { topic: 'shop.public.orders', reason: 'POISON_RECORD' });
    t.metrics.lateRecords.add(1, { application: 'cdc-processor' });
    t.metrics.stateRestored.add(21, { application: 'cdc-processor' });
    t.metrics.consumerLag.set(42, { group: 'cdc-sink', topic: 'shop.public.orders', partition: 3 });
    t.metrics.endToEndLatency.record(0.3, { topic: 'shop.public.orders' });
    t.metrics.captureLag.set(0.1, { source: 'shop' });
    t.metrics.snapshotRowsDone.set(500, { source: 'shop', table: 'public.orders' });
    t.metrics.snapshotRowsEstimated.set(1000, { source: 'shop', table: 'public.orders' });
    t.metrics.snapshotRowsPerSecond.set(250, { source: 'shop', table: 'public.orders' });
    t.metrics.snapshotEta.set(2, { source: 'shop', table: 'public.orders' });
    t.metrics.slotWalRetained.set(16_777_216, { slot: 'cdc_shop' });
    t.metrics.batchSize.record(250, { stage: 'sink' });
    t.metrics.transactions.add(3, { stage: 'process', outcome: 'commit' });
    t.metrics.sinkInsertDuration.record(0.05, { table: 'orders' });
    t.metrics.stateRestoreRecords.set(10, { store: 'customers' });
    t.metrics.stateRestoreRecordsEstimated.set(20, { store: 'customers' });
    t.metrics.restarts.add(1, { unit: 'sink', code: 'KAFKA_UNAVAILABLE' });
    t.metrics.retryAttempt.set(1, { unit: 'sink' });
    t.metrics.tableStopped.set(1, { stage: 'sink', table: 'orders', code: 'SCHEMA_INCOMPATIBLE' });
    t.metrics.transformRecords.add(5, { stage: 'capture', table: 'public.orders', outcome: 'passed' });
    t.metrics.qualityViolations.add(1, {
      stage: 'capture',
      table: 'public.orders',
      rule: 'total-positive',
      action: 'count',
    });
    t.metrics.verifyLastRun.set(1_700_000_000, { source: 'shop', table: 'public.orders' });
    t.metrics.verifyMatch.set(1, { source: 'shop', table: 'public.orders' });
    t.metrics.verifyMismatchedRows.set(0, { source: 'shop', table: 'public.orders' });
    t.metrics.verifyRangesChecked.add(16, { source: 'shop', table: 'public.orders' });
    t.metrics.verifyRowsChecked.add(1000, { source: 'shop', table: 'public.orders' });

    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const all = samples(text);
    const series = new Set(all.map((x) => x.name));
    for (const name of exportedSeriesNames()) expect(series, name).toContain(name);
    for (const m of Object.values(METRICS) as MetricSpec[]) expect(text).toContain(`# HELP ${m.name} `);
    for (const x of all) expect(x.labels.service_name, x.name).toBe('sink-clickhouse');
    const topic = 'shop.public.orders';
    expect(value(all, 'cdc_consumer_lag', { group: 'cdc-sink', topic, partition: '3' })).toBe(42);
    expect(value(all, 'cdc_records_in_total', { stage: 'sink', topic })).toBe(7);
    expect(value(all, 'cdc_dead_letter_total', { topic, reason: 'POISON_RECORD' })).toBe(2);
    expect(value(all, 'cdc_end_to_end_latency_seconds_bucket', { topic, le: '0.25' })).toBe(0);
    expect(value(all, 'cdc_end_to_end_latency_seconds_bucket', { topic, le: '0.5' })).toBe(1);
    expect(value(all, 'cdc_slot_wal_retained_bytes', { slot: 'cdc_shop' })).toBe(16_777_216);
    expect(value(all, 'cdc_state_restored_records_total', { application: 'cdc-processor' })).toBe(21);
    expect(value(all, 'cdc_service_info', { version: '1.2.3' })).toBe(1);
    expect(
      value(all, 'cdc_table_stopped', { stage: 'sink', table: 'orders', code: 'SCHEMA_INCOMPATIBLE' }),
    ).toBe(1);
  });

  it('answers /healthz while alive and flips /readyz with its checks', async () => {
    const t = start('capture-postgres');
    const kafka = t.readiness.flag('kafka', false, 'connecting');
    const { url } = await t.start();

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    let res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: 'not ready',
      ready: false,
      checks: { kafka: { ready: false, detail: 'connecting' } },
    });
    expect(value(samples(await (await fetch(`${url}/metrics`)).text()), 'cdc_ready', {})).toBe(0);

    kafka.set(true);
    res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('ready');
    expect(value(samples(await (await fetch(`${url}/metrics`)).text()), 'cdc_ready', {})).toBe(1);

    t.readiness.register('slot', () => {
      throw new Error('replication slot cdc_shop is gone');
    });
    res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as ReadinessReport).checks.slot).toEqual({
      ready: false,
      detail: 'replication slot cdc_shop is gone',
    });
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  });

  it('stops answering once shut down', async () => {
    const t = start();
    const { url } = await t.start();
    await t.shutdown();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('names the setting to change when the port is taken', async () => {
    const first = start();
    const { port } = await first.start();
    const second = createTelemetry({
      service: 'processor',
      config: { http: { host: '127.0.0.1', port } },
      logger: noopLogger,
    });
    await expect(second.start()).rejects.toThrow(/CDC__TELEMETRY__HTTP__PORT/);
    await second.shutdown();
  });
});

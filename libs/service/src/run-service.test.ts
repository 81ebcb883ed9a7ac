import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdcError } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { type ServiceDefinition, type ServiceUnit, startService } from './run-service.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdc-service-'));
const config = join(dir, 'pipeline.yaml');
writeFileSync(
  config,
  [
    'kafka: { brokers: ["127.0.0.1:19092"] }',
    'registry: { url: "http://127.0.0.1:18081" }',
    'telemetry: { http: { host: 127.0.0.1, port: 0 } }',
    'restart: { initialDelayMs: 50, maxDelayMs: 200 }',
  ].join('\n'),
);

const metadataNotPropagated = () =>
  new CdcError('KAFKA_REQUEST_FAILED', 'creating topics: This server does not host this topic-partition', {
    retriable: true,
  });

interface Run {
  code: Promise<number>;
  stop: AbortController;
  url: Promise<string>;
  lines: string[];
}

function start(units: ServiceUnit[], argv = ['--config', config]): Run {
  const stop = new AbortController();
  const lines: string[] = [];
  let resolveUrl: (u: string) => void = () => {};
  const url = new Promise<string>((r) => {
    resolveUrl = r;
  });
  const def: ServiceDefinition = {
    service: 'test-service',
    usage: 'test-service --config <pipeline file>',
    setup: ({ telemetry }) => {
      // The listener is up before setup runs: its address is in /healthz's port.
      void telemetry.start().then((s) => resolveUrl(s.url));
      return units;
    },
  };
  return {
    code: startService(def, { argv, stop: stop.signal, stderr: (l) => lines.push(l) }),
    stop,
    url,
    lines,
  };
}

/** Resolves when `signal` aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));

async function readyz(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: await res.text() };
}

async function until<T>(f: () => Promise<T | undefined>, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('startService', () => {
  it('starts a unit again after retriable failures, showing them on /readyz and in the metrics, then runs', async () => {
    let attempts = 0;
    let gate: () => void = () => {};
    const released = new Promise<void>((r) => {
      gate = r;
    });
    const run = start([
      {
        name: 'sink',
        attempt: async (signal) => {
          attempts++;
          if (attempts === 1) throw metadataNotPropagated();
          if (attempts === 2) {
            await released;
            throw metadataNotPropagated();
          }
          await aborted(signal);
        },
      },
    ]);
    const url = await run.url;
    // The second attempt is under way (ready, naming the failure before it) until released.
    const during = await until(async () => {
      const r = await readyz(url);
      return r.body.includes('running (attempt 2') ? r : undefined;
    });
    expect(during.body).toContain('This server does not host this topic-partition');
    gate();
    const running = await until(async () => {
      const r = await readyz(url);
      return r.body.includes('running (attempt 3') ? r : undefined;
    });
    expect(running.status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/cdc_service_restarts_total\{[^}]*unit="sink"[^}]*\} 2/);
    run.stop.abort();
    expect(await run.code).toBe(0);
    expect(attempts).toBe(3);
  });

  it('while waiting to retry, /readyz answers 503 with the failures in a row and the last error', async () => {
    const run = start([
      {
        name: 'streams',
        attempt: async () => {
          throw metadataNotPropagated();
        },
      },
    ]);
    const url = await run.url;
    const r = await until(async () => {
      const x = await readyz(url);
      return x.body.includes('in a row') ? x : undefined;
    });
    expect(r.status).toBe(503);
    expect(r.body).toMatch(/failed \d+× in a row \(last: KAFKA_REQUEST_FAILED: creating topics/);
    run.stop.abort();
    expect(await run.code).toBe(0);
  });

  it('ends with exit code 1 on a failure that retrying cannot fix, stopping the other units', async () => {
    let otherStopped = false;
    const run = start([
      {
        name: 'source a',
        attempt: async () => {
          throw new CdcError(
            'SOURCE_POSITION_LOST',
            'replication slot cdc is gone; drop the offsets or use snapshot: when_needed',
          );
        },
      },
      {
        name: 'source b',
        attempt: async (signal) => {
          await aborted(signal);
          otherStopped = true;
        },
      },
    ]);
    expect(await run.code).toBe(1);
    expect(otherStopped).toBe(true);
  });

  it('a unit whose work is done ends the service with exit code 0', async () => {
    const run = start([{ name: 'source a', attempt: async () => undefined }]);
    expect(await run.code).toBe(0);
  });

  it('a missing --config or an invalid pipeline file is a usage error (exit 2) naming the problem', async () => {
    const none = start([], []);
    expect(await none.code).toBe(2);
    expect(none.lines.join('\n')).toContain('usage: test-service --config');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'kafka: { brokers: ["nowhere"] }\nregistry: { url: "http://127.0.0.1:1" }\n');
    const invalid = start([], ['--config', bad]);
    expect(await invalid.code).toBe(2);
    expect(invalid.lines.join('\n')).toMatch(/CONFIG_INVALID: [\s\S]*kafka\.brokers\.0: expected host:port/);
  });
});

import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceLogger, secretValues } from './service-logger.ts';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});

describe('the service logger', () => {
  it('collects the secrets of a config: secret keys, URL passwords, OTLP headers', () => {
    const config = {
      kafka: { sasl: { mechanism: 'scram-sha-512', username: 'cdc', password: 'kafka-pw' } },
      registry: { url: 'https://reg:reg%2Fpw@registry:8081', auth: { username: 'u', password: 'reg-pw' } },
      clickhouse: { url: 'https://ch:8443', password: 'ch-pw' },
      telemetry: { otlp: { endpoint: 'https://otel:4318', headers: { 'x-tenant-key': 'otlp-key' } } },
      headers: { 'x-source': 'visible' },
      name: 'shop',
    };
    expect(secretValues(config).sort()).toEqual(['ch-pw', 'kafka-pw', 'otlp-key', 'reg-pw', 'reg/pw']);
  });

  it('writes JSON lines with the service and the active span ids', () => {
    const lines: string[] = [];
    const logger = createServiceLogger({ service: 'sink-clickhouse', write: (l) => lines.push(l) });
    const tracer = new TracerProvider().getTracer('t');
    logger.info('outside');
    const span = tracer.startSpan('sink.insert');
    context.with(trace.setSpan(ROOT_CONTEXT, span), () => logger.child({ table: 'orders' }).info('inside'));
    span.end();
    const [outside, inside] = lines.map((l) => JSON.parse(l));
    expect(outside).toMatchObject({ level: 'info', msg: 'outside', service: 'sink-clickhouse' });
    expect(outside).not.toHaveProperty('trace_id');
    expect(inside).toMatchObject({
      msg: 'inside',
      table: 'orders',
      trace_id: span.spanContext().traceId,
      span_id: span.spanContext().spanId,
    });
  });
});

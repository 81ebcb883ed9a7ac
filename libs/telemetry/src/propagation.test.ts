import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  extractTraceContext,
  injectTraceContext,
  type RecordHeaders,
  spanContextFromHeaders,
} from './propagation.ts';

const exporter = new InMemorySpanExporter();
const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer('t');
const manager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(manager.enable());
});
afterAll(() => {
  context.disable();
});

describe('trace context in Kafka headers', () => {
  it('writes a W3C traceparent naming the active span', () => {
    const headers = tracer.startActiveSpan('capture.transaction', (span) => {
      const h = injectTraceContext({ 'cdc-source': 'shop' } as RecordHeaders);
      span.end();
      return h;
    });
    const sc = exporter.getFinishedSpans()[0]!.spanContext();
    expect(headers.traceparent).toBe(`00-${sc.traceId}-${sc.spanId}-01`);
    expect(headers['cdc-source']).toBe('shop');
  });

  it('continues the trace on the consumer side, from string or Buffer headers (as kafkajs delivers them)', () => {
    const parent = tracer.startSpan('capture.transaction');
    const produced = injectTraceContext({}, trace.setSpan(ROOT_CONTEXT, parent));
    const consumed: RecordHeaders = { traceparent: Buffer.from(String(produced.traceparent)) };
    const child = tracer.startSpan('process', {}, extractTraceContext(consumed));
    expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
    child.end();
    parent.end();
    const finished = exporter.getFinishedSpans().find((s) => s.name === 'process')!;
    expect(finished.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  });

  it('reads the first value of a repeated header and a header key in another case', () => {
    const parent = tracer.startSpan('a');
    const tp = String(injectTraceContext({}, trace.setSpan(ROOT_CONTEXT, parent)).traceparent);
    expect(spanContextFromHeaders({ traceparent: [tp, 'junk'] })?.spanId).toBe(parent.spanContext().spanId);
    expect(spanContextFromHeaders({ TraceParent: tp })?.spanId).toBe(parent.spanContext().spanId);
    parent.end();
  });

  it('starts a new trace when headers carry no context or a malformed one', () => {
    expect(spanContextFromHeaders(undefined)).toBeUndefined();
    expect(spanContextFromHeaders({})).toBeUndefined();
    expect(spanContextFromHeaders({ traceparent: '00-nothex-01' })).toBeUndefined();
    expect(
      spanContextFromHeaders({ traceparent: `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01` }),
    ).toBeUndefined();
    const span = tracer.startSpan('x', {}, extractTraceContext({ traceparent: 'garbage' }));
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    expect((span as unknown as { parentSpanContext?: unknown }).parentSpanContext).toBeUndefined();
    span.end();
  });

  it('writes nothing outside a span', () => {
    expect(injectTraceContext({}, ROOT_CONTEXT)).toEqual({});
  });

  it('carries tracestate along', () => {
    const remote = spanContextFromHeaders({
      traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
      tracestate: 'vendor=x',
    });
    expect(remote?.traceState?.get('vendor')).toBe('x');
    const out = injectTraceContext({}, trace.setSpanContext(ROOT_CONTEXT, remote!));
    expect(out.tracestate).toBe('vendor=x');
  });
});

import { context, DiagLogLevel, diag, ROOT_CONTEXT, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { extractTraceContext, injectTraceContext, type RecordHeaders } from './propagation.ts';
import { startBatchSpans, withSpan } from './tracing.ts';

const exporter = new InMemorySpanExporter();
const tracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer('t');

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  context.disable();
});
beforeEach(() => exporter.reset());

/** A source transaction's trace as the capture writes it into each record's headers. */
function captured(records: number): RecordHeaders[] {
  const span = tracer.startSpan('capture.transaction');
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  span.end();
  return Array.from({ length: records }, () => injectTraceContext({}, ctx));
}

describe('a source transaction traced from capture to the ClickHouse insert', () => {
  it('the processor continues the trace and the sink ends each transaction trace with its insert', async () => {
    const tx1 = captured(3);
    const tx2 = captured(2);
    const processed = await withSpan(tracer, 'process', async () => injectTraceContext({}), {
      parent: extractTraceContext(tx1[0]),
    });
    const batch = [...tx1, ...tx2, processed, {}];
    const spans = startBatchSpans(tracer, 'sink.insert', batch, { attributes: { 'cdc.table': 'orders' } });
    expect(spans.traceCount).toBe(2);
    spans.end();

    const finished = exporter.getFinishedSpans();
    const roots = finished.filter((s) => s.name === 'capture.transaction');
    const inserts = finished.filter((s) => s.name === 'sink.insert');
    expect(inserts.map((s) => s.spanContext().traceId).sort()).toEqual(
      roots.map((s) => s.spanContext().traceId).sort(),
    );
    for (const i of inserts) {
      expect(i.attributes).toMatchObject({ 'cdc.table': 'orders', 'cdc.batch.traces': 2 });
      expect(i.parentSpanContext).toBeDefined();
    }
    const process = finished.find((s) => s.name === 'process')!;
    expect(process.spanContext().traceId).toBe(roots[0]!.spanContext().traceId);
  });

  it('caps the spans of a batch and links the remaining traces', () => {
    const batch = [captured(1), captured(1), captured(1), captured(1)].flat();
    exporter.reset();
    const spans = startBatchSpans(tracer, 'sink.insert', batch, { maxSpans: 2 });
    spans.end();
    const inserts = exporter.getFinishedSpans();
    expect(spans.traceCount).toBe(4);
    expect(inserts).toHaveLength(2);
    expect(inserts.flatMap((s) => s.links).map((l) => l.context.traceId)).toHaveLength(2);
  });

  it('links at most 128 traces, so the SDK drops none and warns of nothing, and still counts them all', () => {
    // A backlog of single-row source transactions: as many traces as records.
    const batch = Array.from({ length: 500 }, () => captured(1)).flat();
    const warnings: string[] = [];
    const sink = (msg: string) => void warnings.push(msg);
    diag.setLogger({ error: sink, warn: sink, info() {}, debug() {}, verbose() {} }, DiagLogLevel.WARN);
    try {
      exporter.reset();
      const spans = startBatchSpans(tracer, 'sink.insert', [...batch, ...batch]);
      spans.end();
      const inserts = exporter.getFinishedSpans();
      expect(spans.traceCount).toBe(500);
      expect(inserts).toHaveLength(64);
      expect(inserts.flatMap((s) => s.links)).toHaveLength(128);
      expect(inserts[0]?.attributes).toMatchObject({
        'cdc.batch.traces': 500,
        'cdc.batch.traces_unlinked': 308,
      });
      expect(warnings).toEqual([]);
    } finally {
      diag.disable();
    }
  });

  it('gives a batch without trace context one root span, and marks every span failed on error', () => {
    const spans = startBatchSpans(tracer, 'sink.insert', [{}, undefined]);
    expect(spans.traceCount).toBe(0);
    spans.end(Object.assign(new Error('table is read-only'), { code: 'SINK_REJECTED' }));
    const [s] = exporter.getFinishedSpans();
    expect(s?.parentSpanContext).toBeUndefined();
    expect(s?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'table is read-only' });
    expect(s?.attributes['cdc.error.code']).toBe('SINK_REJECTED');
  });

  it('withSpan ends the span, passes the result and rethrows a failure', async () => {
    expect(await withSpan(tracer, 'ok', () => 42)).toBe(42);
    await expect(
      withSpan(tracer, 'bad', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const [ok, bad] = exporter.getFinishedSpans();
    expect(ok?.status.code).toBe(SpanStatusCode.UNSET);
    expect(bad?.status.code).toBe(SpanStatusCode.ERROR);
    expect(bad?.events.map((e) => e.name)).toEqual(['exception']);
  });
});

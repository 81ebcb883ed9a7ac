/**
 * Trace context in Kafka record headers (W3C `traceparent` / `tracestate`), so that the trace a
 * capture starts for a source transaction continues in the processor and ends at the sink's
 * ClickHouse insert.
 */
import {
  type Context,
  context,
  ROOT_CONTEXT,
  type SpanContext,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** Kafka record headers as kafkajs types them. */
export type RecordHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

const propagator = new W3CTraceContextPropagator();

function headerText(value: RecordHeaders[string]): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

const getter: TextMapGetter<RecordHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    if (key in carrier) return headerText(carrier[key]);
    const found = Object.keys(carrier).find((k) => k.toLowerCase() === key);
    return found === undefined ? undefined : headerText(carrier[found]);
  },
};

const setter: TextMapSetter<RecordHeaders> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/**
 * Writes the span context of `ctx` (default: the active context) into `headers` as `traceparent`
 * (and `tracestate` when set). Does nothing outside a span. Returns `headers`.
 */
export function injectTraceContext<H extends RecordHeaders>(
  headers: H,
  ctx: Context = context.active(),
): H & RecordHeaders {
  propagator.inject(ctx, headers, setter);
  return headers;
}

/**
 * The context carried by `headers`, as the parent for the next span
 * (`tracer.startActiveSpan(name, {}, extractTraceContext(record.headers), fn)`); the base
 * context when the headers carry none or a malformed one.
 */
export function extractTraceContext(
  headers: RecordHeaders | undefined,
  base: Context = ROOT_CONTEXT,
): Context {
  if (headers === undefined) return base;
  return propagator.extract(base, headers, getter);
}

/** The remote span context in `headers`, or undefined. */
export function spanContextFromHeaders(headers: RecordHeaders | undefined): SpanContext | undefined {
  const sc = trace.getSpanContext(extractTraceContext(headers));
  return sc !== undefined && trace.isSpanContextValid(sc) ? sc : undefined;
}

/**
 * Spans around units of work. A capture starts one trace per source transaction (`withSpan`
 * with no parent) and injects it into every record it produces; a processor continues the trace
 * of the record it handles (`withSpan` with `parent: extractTraceContext(headers)`); a sink's
 * batch mixes records of many source transactions, so `startBatchSpans` opens one span in each
 * distinct trace: every source transaction's trace ends with its ClickHouse insert.
 */
import {
  type Attributes,
  type Context,
  context,
  type Link,
  type Span,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { type RecordHeaders, spanContextFromHeaders } from './propagation.ts';

export interface WithSpanOptions {
  /** The parent (e.g. `extractTraceContext(record.headers)`); default: the active context. */
  parent?: Context;
  attributes?: Attributes;
}

function markFailed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: err instanceof Error ? err.message : String(err),
  });
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') span.setAttribute('cdc.error.code', code);
}

/** Runs `fn` in a new active span that ends when `fn` settles; a throw marks the span failed. */
export async function withSpan<T>(
  tracer: Tracer,
  name: string,
  fn: (span: Span) => Promise<T> | T,
  options: WithSpanOptions = {},
): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(name, { attributes: options.attributes ?? {} }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      markFailed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

export interface BatchSpans {
  /** Distinct traces the batch's records belong to (records without trace context excluded). */
  readonly traceCount: number;
  /** A context to make active while the batch is written: the first span's. */
  readonly context: Context;
  setAttributes(attributes: Attributes): void;
  /** Ends every span; with an error, marks them failed. */
  end(error?: unknown): void;
}

export interface BatchSpanOptions {
  attributes?: Attributes;
  /** At most this many spans (default 64); further traces become links of the last one. */
  maxSpans?: number;
  /**
   * At most this many links (default 128, OpenTelemetry's default `linkCountLimit`: past it the
   * SDK drops links and logs a warning for each span); the traces beyond are only counted.
   */
  maxLinks?: number;
}

/**
 * Opens a span named `name` in each distinct trace found in the records' headers. A batch
 * whose records carry no trace context gets one root span.
 */
export function startBatchSpans(
  tracer: Tracer,
  name: string,
  headers: Iterable<RecordHeaders | undefined>,
  options: BatchSpanOptions = {},
): BatchSpans {
  const maxSpans = Math.max(1, options.maxSpans ?? 64);
  const maxLinks = Math.max(0, options.maxLinks ?? 128);
  const parents = new Map<string, Context>();
  const links: Link[] = [];
  // Every distinct trace of the batch: a batch of single-row source transactions holds as many
  // traces as records (looking each up among the links made that quadratic).
  const seen = new Set<string>();
  for (const h of headers) {
    const sc = spanContextFromHeaders(h);
    if (sc === undefined || seen.has(sc.traceId)) continue;
    seen.add(sc.traceId);
    if (parents.size < maxSpans) parents.set(sc.traceId, trace.setSpanContext(context.active(), sc));
    else if (links.length < maxLinks) links.push({ context: sc });
  }
  const attributes: Attributes = { ...options.attributes, 'cdc.batch.traces': seen.size };
  const unlinked = seen.size - parents.size - links.length;
  if (unlinked > 0) attributes['cdc.batch.traces_unlinked'] = unlinked;
  const contexts = parents.size > 0 ? [...parents.values()] : [context.active()];
  const spans = contexts.map((parent, i) =>
    tracer.startSpan(name, { attributes, links: i === contexts.length - 1 ? links : [] }, parent),
  );
  const first = spans[0]!;
  return {
    traceCount: seen.size,
    context: trace.setSpan(context.active(), first),
    setAttributes: (a) => {
      for (const s of spans) s.setAttributes(a);
    },
    end: (error?: unknown) => {
      for (const s of spans) {
        if (error !== undefined) markFailed(s, error);
        s.end();
      }
    },
  };
}

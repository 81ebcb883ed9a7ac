import type { LogFields, Logger } from '@cdc/core';
import { context, trace } from '@opentelemetry/api';

/** The active span's ids as log fields (`trace_id`, `span_id`), or none outside a span. */
export function traceFields(): LogFields {
  const sc = trace.getSpanContext(context.active());
  if (sc === undefined || !trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/**
 * A logger that adds the active span's `trace_id` and `span_id` to every line, so a log line
 * leads to its trace and a trace to its log lines.
 */
export function withTraceIds(logger: Logger): Logger {
  const fields = (f?: LogFields): LogFields => ({ ...traceFields(), ...f });
  return {
    debug: (m, f) => logger.debug(m, fields(f)),
    info: (m, f) => logger.info(m, fields(f)),
    warn: (m, f) => logger.warn(m, fields(f)),
    error: (m, f) => logger.error(m, fields(f)),
    child: (b) => withTraceIds(logger.child(b)),
  };
}

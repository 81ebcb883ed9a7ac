/**
 * @cdc/telemetry: traces, metrics, health and logs for every service.
 *
 *   import { loadPipeline } from '@cdc/pipeline';
 *   import { createServiceLogger, createTelemetry, injectTraceContext, withSpan } from '@cdc/telemetry';
 *
 *   const pipeline = loadPipeline(configFile);
 *   const logger = createServiceLogger({ service: 'capture-postgres', config: pipeline });
 *   const telemetry = createTelemetry({ service: 'capture-postgres', config: pipeline.telemetry, logger });
 *   const kafkaUp = telemetry.readiness.flag('kafka');        // not ready until set
 *   telemetry.readiness.register('slot', () => slotIsActive()); // or a polled check
 *   await telemetry.start();                                    // /metrics /healthz /readyz
 *   kafkaUp.set(true);
 *
 *   // one trace per source transaction, carried to the processor and the sink in record headers
 *   await withSpan(telemetry.tracer, 'capture.transaction', async () => {
 *     const messages = changes.map((c) => ({ key: c.key, value: c.value, headers: injectTraceContext({}) }));
 *     await producer.send(messages);
 *     telemetry.metrics.recordsOut.add(messages.length, { stage: 'capture', topic });
 *     logger.info('committed', { lsn });                         // carries trace_id and span_id
 *   });
 *
 *   // processor: withSpan(tracer, 'process', fn, { parent: extractTraceContext(record.headers) })
 *   // sink: const spans = startBatchSpans(tracer, 'sink.insert', batch.map((r) => r.headers));
 *   //       ...insert...; spans.end(error);
 *   //       telemetry.metrics.endToEndLatency.record((Date.now() - source.tsMs) / 1000, { topic });
 *
 *   process.on('SIGTERM', () => telemetry.shutdown()); // not ready first, then flush exporters
 */

export {
  exportedSeriesNames,
  type LabelsOf,
  METRICS,
  type MetricKey,
  type MetricKind,
  type MetricSpec,
  SERVICE_LABEL,
  STAGES,
  type Stage,
} from './catalogue.ts';
export { type DeadLetterEvent, deadLetterReporter } from './dead-letters.ts';
export { startTelemetryServer, type TelemetryServer, type TelemetryServerOptions } from './http-server.ts';
export { type CounterOf, createMetrics, type GaugeOf, type HistogramOf, type Metrics } from './metrics.ts';
export {
  extractTraceContext,
  injectTraceContext,
  type RecordHeaders,
  spanContextFromHeaders,
} from './propagation.ts';
export { type QualityReporter, qualityReporter } from './quality.ts';
export {
  type CheckResult,
  Readiness,
  type ReadinessCheck,
  type ReadinessFlag,
  type ReadinessReport,
} from './readiness.ts';
export { createServiceLogger, type ServiceLoggerOptions, secretValues } from './service-logger.ts';
export { createTelemetry, type Telemetry, type TelemetryOptions } from './telemetry.ts';
export { traceFields, withTraceIds } from './trace-logger.ts';
export {
  type BatchSpanOptions,
  type BatchSpans,
  startBatchSpans,
  type WithSpanOptions,
  withSpan,
} from './tracing.ts';

/**
 * `createTelemetry`: the OpenTelemetry meter and tracer of one service process, the metric
 * catalogue's instruments on them, readiness checks, the `/metrics` `/healthz` `/readyz`
 * listener, and OTLP export of traces and metrics when the pipeline file configures a collector.
 * Nothing here is global except OpenTelemetry's context manager, which must be.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@cdc/core';
import type { TelemetrySection } from '@cdc/pipeline';
import { context, DiagLogLevel, diag, type Meter, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type IMetricReader, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { startTelemetryServer, type TelemetryServer } from './http-server.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { Readiness } from './readiness.ts';
import { secretValues } from './service-logger.ts';

export interface TelemetryOptions {
  /** The service's name (`capture-postgres`, `processor`, …): `service.name` and the `service_name` label. */
  service: string;
  version?: string;
  /** The pipeline file's `telemetry` section. */
  config: TelemetrySection;
  logger: Logger;
  /** Extra span processors (tests pass an in-memory exporter's). */
  spanProcessors?: SpanProcessor[];
  /** `shutdown` waits at most this long for the last OTLP export (default 5000 ms). */
  shutdownTimeoutMs?: number;
}

export interface Telemetry {
  readonly service: string;
  readonly meter: Meter;
  readonly tracer: Tracer;
  /**
   * Whether spans go anywhere (an OTLP collector, or processors given in the options). When not,
   * a service may skip per-record spans and pass the trace context it received on unchanged.
   */
  readonly tracing: boolean;
  /** The catalogue's instruments. */
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  /** Starts the `/metrics` `/healthz` `/readyz` listener. */
  start(): Promise<TelemetryServer>;
  /** Not ready from now on, closes the listener, flushes and stops exporters. Idempotent. */
  shutdown(): Promise<void>;
}

let globalsSet = false;
/**
 * OpenTelemetry keeps the active context and its own diagnostics in globals: set them once per
 * process (the first service logger gets the SDK's warnings, such as a collector that refuses
 * exports).
 */
function ensureGlobals(logger: Logger): void {
  if (globalsSet) return;
  globalsSet = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const warn = (msg: string, ...args: unknown[]) =>
    logger.warn(`opentelemetry: ${msg}`, args.length > 0 ? { args: args.map(String) } : {});
  const ignore = () => {};
  diag.setLogger({ error: warn, warn, info: ignore, debug: ignore, verbose: ignore }, DiagLogLevel.WARN);
}

function otlpUrl(endpoint: string, signal: 'traces' | 'metrics'): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/${signal}`;
}

export function createTelemetry(options: TelemetryOptions): Telemetry {
  const { service, config, logger } = options;
  ensureGlobals(logger);
  const version = options.version ?? '0.0.0';
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: service,
    [ATTR_SERVICE_VERSION]: version,
    'service.namespace': 'cdc',
    'service.instance.id': randomUUID(),
  });

  const prometheus = new PrometheusExporter({
    preventServerStart: true,
    withResourceConstantLabels: /^service\.name$/,
    withoutScopeInfo: true,
  });
  const readers: IMetricReader[] = [prometheus];
  const spanProcessors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  if (config.otlp !== undefined) {
    const headers = { ...config.otlp.headers };
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: otlpUrl(config.otlp.endpoint, 'metrics'), headers }),
        exportIntervalMillis: config.otlp.metricsIntervalMs,
      }),
    );
    spanProcessors.push(
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: otlpUrl(config.otlp.endpoint, 'traces'), headers }),
      }),
    );
    logger.info('exporting traces and metrics over OTLP', { endpoint: config.otlp.endpoint });
  }

  const meterProvider = new MeterProvider({ resource, readers });
  const tracerProvider = new TracerProvider({ resource, spanProcessors });
  const meter = meterProvider.getMeter('@cdc/telemetry', version);
  const tracer = tracerProvider.getTracer('@cdc/telemetry', version);
  const metrics = createMetrics(meter);
  metrics.serviceInfo.set(1, { version });
  const readiness = new Readiness();

  let server: TelemetryServer | undefined;
  let stopped: Promise<void> | undefined;
  return {
    service,
    meter,
    tracer,
    tracing: spanProcessors.length > 0,
    metrics,
    readiness,
    async start() {
      if (server !== undefined) return server;
      server = await startTelemetryServer({
        host: config.http.host,
        port: config.http.port,
        readiness,
        metrics: (req, res) => prometheus.getMetricsRequestHandler(req, res),
        onReadiness: (r) => metrics.ready.set(r.ready ? 1 : 0, {}),
        secrets: secretValues(config),
        logger,
      });
      logger.info('serving /metrics /healthz /readyz', { url: server.url });
      return server;
    },
    shutdown() {
      stopped ??= (async () => {
        readiness.stopping();
        await server?.close();
        const timeoutMs = options.shutdownTimeoutMs ?? 5_000;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        const flushed = Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
        const results = await Promise.race([flushed, timeout]);
        clearTimeout(timer);
        if (results === 'timeout') {
          logger.warn('telemetry export did not flush in time; the last spans and metrics are lost', {
            timeoutMs,
          });
          return;
        }
        for (const r of results) {
          if (r.status === 'rejected') logger.warn('telemetry export did not flush', { err: r.reason });
        }
      })();
      return stopped;
    },
  };
}

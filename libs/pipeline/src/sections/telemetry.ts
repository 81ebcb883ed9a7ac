import { z } from 'zod';

/**
 * Observability of every service (read by `@cdc/telemetry`): the HTTP listener serving
 * `/metrics` (Prometheus text), `/healthz` and `/readyz`, and optional OTLP export of traces and
 * metrics. One pipeline file serves every service, so in containers each gets the same port; on
 * one host give each process its own with `CDC__TELEMETRY__HTTP__PORT` (or `port: 0`, an
 * ephemeral port that the service logs).
 */
export const TelemetrySectionSchema = z.strictObject({
  http: z
    .strictObject({
      /** Keep 127.0.0.1 on a shared host; containers set 0.0.0.0 so probes and scrapes reach it. */
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535).default(9464),
    })
    .prefault({}),
  otlp: z
    .strictObject({
      /** The collector's OTLP/HTTP base URL; `/v1/traces` and `/v1/metrics` are appended. */
      endpoint: z.url(),
      /** Sent with every export (typically an API key): secret, never logged. */
      headers: z.record(z.string(), z.string()).default({}),
      metricsIntervalMs: z.number().int().min(1_000).default(15_000),
    })
    .optional(),
});
export type TelemetrySection = z.output<typeof TelemetrySectionSchema>;

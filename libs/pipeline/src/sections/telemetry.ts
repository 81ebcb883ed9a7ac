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
      host: z.string().min(1).default('127.0.0.1').meta({
        description:
          'Keep 127.0.0.1 on a shared host; containers set 0.0.0.0 so probes and scrapes reach it.',
      }),
      port: z
        .number()
        .int()
        .min(0)
        .max(65_535)
        .default(9464)
        .meta({ description: 'Its port (0: an ephemeral port, logged at start).' }),
    })
    .prefault({})
    .meta({ description: 'The HTTP listener of `/metrics`, `/healthz` and `/readyz`.' }),
  otlp: z
    .strictObject({
      endpoint: z.url().meta({
        description: "The collector's OTLP/HTTP base URL; `/v1/traces` and `/v1/metrics` are appended.",
      }),
      headers: z
        .record(z.string(), z.string())
        .default({})
        .meta({ description: 'Sent with every export (typically an API key): secret, never logged.' }),
      metricsIntervalMs: z
        .number()
        .int()
        .min(1_000)
        .default(15_000)
        .meta({ description: 'How often metrics are exported.' }),
    })
    .optional()
    .meta({ description: 'Export of traces and metrics over OTLP/HTTP; without it nothing is exported.' }),
});
export type TelemetrySection = z.output<typeof TelemetrySectionSchema>;

import { z } from 'zod';

/**
 * How every service recovers from a retriable failure (a broker electing a leader, metadata not
 * yet propagated, a registry or ClickHouse restarting, a source server away): the unit of work
 * that failed (a capture source, the streams runtime, the sink consumer) starts again from what
 * Kafka committed, after an exponential backoff with full jitter. Only a failure that retrying
 * cannot fix ends the process, with a non-zero exit code and a message naming the cause and the
 * fix; `cdc up`, compose or Kubernetes then restart the process.
 */
export const RestartSectionSchema = z
  .strictObject({
    initialDelayMs: z.number().int().min(1).default(500).meta({
      description: 'The first wait after a failure; each further failure in a row doubles the ceiling.',
    }),
    maxDelayMs: z
      .number()
      .int()
      .min(1)
      .default(30_000)
      .meta({ description: 'The ceiling of the wait between attempts.' }),
    maxAttempts: z.number().int().min(0).default(0).meta({
      description: 'Failures in a row after which the process exits instead (0: retry without limit).',
    }),
    resetAfterMs: z
      .number()
      .int()
      .min(0)
      .default(60_000)
      .meta({ description: 'An attempt that ran this long before failing starts the backoff over.' }),
  })
  .refine((r) => r.initialDelayMs <= r.maxDelayMs, {
    message: 'restart.initialDelayMs must not exceed restart.maxDelayMs',
    path: ['initialDelayMs'],
  });
export type RestartSection = z.output<typeof RestartSectionSchema>;

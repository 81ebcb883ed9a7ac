import { DEFAULT_SIGNAL_TOPIC } from '@cdc/core';
import { z } from 'zod';

/** One API token of the control service: a name (who, in the audit log), a role and the token's hash. */
export const ControlTokenSchema = z.strictObject({
  name: z.string().min(1).meta({
    description: 'Who holds the token: written to the audit log as the actor of every request made with it.',
  }),
  role: z.enum(['viewer', 'operator', 'admin']).meta({
    description:
      '`viewer` reads; `operator` also pauses, resumes, resyncs, verifies and replays; `admin` also discards dead letters and rebuilds tables.',
  }),
  sha256: z
    .string()
    .regex(
      /^[0-9a-f]{64}$/i,
      'a token hash is the SHA-256 of the token as 64 hex digits (printf %s "$TOKEN" | sha256sum)',
    )
    .meta({
      description:
        'The token\'s SHA-256 as 64 hex digits (`printf %s "$TOKEN" | sha256sum`): the token itself is never stored in the file. Usually `${CDC_TOKEN_…_SHA256}` from a secret.',
    }),
});
export type ControlToken = z.output<typeof ControlTokenSchema>;

/**
 * The control service (`cdc control`): an HTTP API (OpenAPI at `/api/openapi.json`) to watch and
 * steer the pipeline. Actions reach the captures as records on the signal topic; every request
 * that changes something, and every refused one, is written to the audit topic.
 */
export const ControlSectionSchema = z.strictObject({
  host: z.string().default('127.0.0.1').meta({
    description:
      'The address the API listens on: 127.0.0.1 unless it must be reached from elsewhere (then set `tls`).',
  }),
  port: z
    .number()
    .int()
    .min(0)
    .max(65_535)
    .default(8088)
    .meta({ description: "The API's port (0: any free port, printed at start)." }),
  signalTopic: z.string().min(1).default(DEFAULT_SIGNAL_TOPIC).meta({
    description:
      "The Kafka topic that carries commands to the captures (pause, resume, resync), ordered and durable. The leading `__` keeps it out of the sink's default topic pattern.",
  }),
  auditTopic: z.string().min(1).default('cdc.audit').meta({
    description:
      'The Kafka topic of the audit log (who, what, when, outcome), loaded into ClickHouse `cdc_audit` by the sink.',
  }),
  tokens: z
    .array(ControlTokenSchema)
    .default([])
    .meta({ description: 'The API tokens, hashed. No token: every request is refused (401).' }),
  tls: z
    .strictObject({
      certFile: z.string().min(1).meta({ description: 'Path of the PEM certificate (chain).' }),
      keyFile: z.string().min(1).meta({ description: 'Path of the PEM private key.' }),
    })
    .optional()
    .meta({ description: 'HTTPS instead of HTTP: PEM files of the certificate chain and its private key.' }),
});
export type ControlSection = z.output<typeof ControlSectionSchema>;

import { z } from 'zod';

const Pem = z.string().min(1).describe('a PEM block, or the path of a file holding one');

/** How to reach Kafka: the `kafka` section of the pipeline file. */
export const KafkaConfigSchema = z
  .strictObject({
    brokers: z
      .array(z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port'))
      .min(1)
      .meta({
        description:
          'Bootstrap brokers as `host:port`; the client discovers the rest of the cluster from them.',
      }),
    clientId: z
      .string()
      .min(1)
      .default('cdc')
      .meta({ description: 'The Kafka client id, seen in broker logs and quotas.' }),
    ssl: z
      .union([
        z.boolean(),
        z.strictObject({
          ca: Pem.optional(),
          cert: Pem.optional(),
          key: Pem.optional(),
          passphrase: z
            .string()
            .optional()
            .meta({ description: 'The passphrase of an encrypted client key: a secret, never logged.' }),
          servername: z
            .string()
            .optional()
            .meta({ description: 'The TLS server name to verify, when it differs from the broker host.' }),
          rejectUnauthorized: z.boolean().default(true).meta({
            description: 'Refuse a broker certificate that the CA does not vouch for; turn off only to test.',
          }),
        }),
      ])
      .default(false)
      .meta({
        description:
          "TLS to the brokers: `true` with the system's CAs, or the CA, client certificate and key to use.",
      }),
    sasl: z
      .strictObject({
        mechanism: z
          .enum(['plain', 'scram-sha-256', 'scram-sha-512'])
          .meta({ description: 'The SASL mechanism.' }),
        username: z.string().min(1).meta({ description: 'The SASL user.' }),
        password: z
          .string()
          .min(1)
          .meta({ description: 'The SASL password: a secret (use `${VAR}`), never logged.' }),
      })
      .optional()
      .meta({
        description: 'SASL authentication; PLAIN needs `ssl`, since it sends the password in clear text.',
      }),
    connectionTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(5_000)
      .meta({ description: 'How long a connection to a broker may take to open.' }),
    requestTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .meta({ description: 'How long a request to a broker may take before it is retried.' }),
    retry: z
      .strictObject({
        retries: z.number().int().min(0).default(8).meta({ description: 'Retries of one request.' }),
        initialRetryTimeMs: z
          .number()
          .int()
          .positive()
          .default(300)
          .meta({ description: 'The first wait before a retry; later waits grow.' }),
        maxRetryTimeMs: z
          .number()
          .int()
          .positive()
          .default(30_000)
          .meta({ description: 'The ceiling of the wait between retries.' }),
      })
      .prefault({})
      .meta({
        description:
          "The Kafka client's own retries of a failed request, before the service's restart policy takes over.",
      }),
  })
  .superRefine((c, ctx) => {
    if (c.sasl?.mechanism === 'plain' && c.ssl === false) {
      ctx.addIssue({
        code: 'custom',
        path: ['sasl', 'mechanism'],
        message: 'SASL/PLAIN sends the password in clear text: enable ssl, or use scram-sha-256/512',
      });
    }
    if (typeof c.ssl === 'object' && (c.ssl.cert === undefined) !== (c.ssl.key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['ssl'],
        message: 'a client certificate needs both cert and key',
      });
    }
  });

export type KafkaConfigInput = z.input<typeof KafkaConfigSchema>;
export type KafkaConfig = z.output<typeof KafkaConfigSchema>;

import { z } from 'zod';

const Pem = z.string().min(1).describe('a PEM block, or the path of a file holding one');

/** How to reach Kafka: the `kafka` section of the pipeline file. */
export const KafkaConfigSchema = z
  .strictObject({
    brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port')).min(1),
    clientId: z.string().min(1).default('cdc'),
    ssl: z
      .union([
        z.boolean(),
        z.strictObject({
          ca: Pem.optional(),
          cert: Pem.optional(),
          key: Pem.optional(),
          passphrase: z.string().optional(),
          servername: z.string().optional(),
          rejectUnauthorized: z.boolean().default(true),
        }),
      ])
      .default(false),
    sasl: z
      .strictObject({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1),
        password: z.string().min(1),
      })
      .optional(),
    connectionTimeoutMs: z.number().int().positive().default(5_000),
    requestTimeoutMs: z.number().int().positive().default(30_000),
    retry: z
      .strictObject({
        retries: z.number().int().min(0).default(8),
        initialRetryTimeMs: z.number().int().positive().default(300),
        maxRetryTimeMs: z.number().int().positive().default(30_000),
      })
      .prefault({}),
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

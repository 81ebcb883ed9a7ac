import { z } from 'zod';

/** One PostgreSQL database to capture (owned by services/capture-postgres). */
export const PostgresSourceSchema = z.object({
  /** The capture's logical name: the topic prefix and the key of its stored positions. */
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (it is part of topic names)'),
  connection: z.object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().positive().default(5432),
    database: z.string().min(1),
    user: z.string().min(1),
    password: z.string().optional(),
    ssl: z
      .union([
        z.boolean(),
        z.object({ ca: z.string().optional(), rejectUnauthorized: z.boolean().default(true) }),
      ])
      .default(false),
  }),
  publication: z.string().default('cdc'),
  slot: z
    .string()
    .regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _ only (PostgreSQL slot names)')
    .default('cdc'),
  /** Tables as `schema.table`; empty means every table of the database. */
  include: z.array(z.string()).default([]),
  snapshot: z.enum(['initial', 'never', 'when_needed', 'initial_only']).default('initial'),
});
export type PostgresSource = z.output<typeof PostgresSourceSchema>;

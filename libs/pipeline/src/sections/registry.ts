import { z } from 'zod';

/** The Confluent-compatible schema registry. */
export const RegistrySectionSchema = z.strictObject({
  url: z.url(),
  auth: z.strictObject({ username: z.string().min(1), password: z.string().min(1) }).optional(),
  /** PEM or path of the CA that signed the registry's certificate (https only). */
  ca: z.string().optional(),
});
export type RegistrySection = z.output<typeof RegistrySectionSchema>;

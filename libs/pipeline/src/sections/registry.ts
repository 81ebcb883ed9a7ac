import { z } from 'zod';

/** The Confluent-compatible schema registry. */
export const RegistrySectionSchema = z.strictObject({
  url: z.url().meta({ description: "The registry's base URL (for Apicurio, its `…/apis/ccompat/v7` path)." }),
  auth: z
    .strictObject({
      username: z.string().min(1).meta({ description: 'The registry user.' }),
      password: z
        .string()
        .min(1)
        .meta({ description: 'The registry password: a secret (use `${VAR}`), never logged.' }),
    })
    .optional()
    .meta({ description: 'HTTP basic authentication to the registry.' }),
  ca: z
    .string()
    .optional()
    .meta({ description: "PEM or path of the CA that signed the registry's certificate (https only)." }),
});
export type RegistrySection = z.output<typeof RegistrySectionSchema>;

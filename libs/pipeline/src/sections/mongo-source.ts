import { z } from 'zod';

/** One MongoDB deployment to capture (owned by services/capture-mongo). */
export const MongoSourceSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (it is part of topic names)'),
  uri: z.string().regex(/^mongodb(\+srv)?:\/\//, 'a mongodb:// or mongodb+srv:// URI'),
  /** `db` or `db.collection`; empty means every database. */
  include: z.array(z.string()).default([]),
  snapshot: z.enum(['initial', 'never', 'when_needed']).default('initial'),
  fullDocument: z.enum(['updateLookup', 'whenAvailable', 'required']).default('updateLookup'),
});
export type MongoSource = z.output<typeof MongoSourceSchema>;

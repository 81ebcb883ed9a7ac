import { z } from 'zod';

/** Where the sink writes (owned by services/sink-clickhouse). */
export const ClickHouseSectionSchema = z.union([
  z.object({
    /** The embedded engine (chdb) on a data directory: the zero-setup default. */
    embedded: z.object({ path: z.string().min(1) }),
  }),
  z.object({
    /** A ClickHouse server over HTTP(S). */
    url: z.url(),
    database: z.string().default('default'),
    username: z.string().default('default'),
    password: z.string().optional(),
  }),
]);
export type ClickHouseSection = z.output<typeof ClickHouseSectionSchema>;

/**
 * A scenario's own source database on the local stack's PostgreSQL: made by the superuser,
 * owned by role `cdc` (the pipeline's user), with a publication of the same name.
 *
 *   await createSourceDatabase(id, (db) => db.query('CREATE TABLE public.t (id int PRIMARY KEY)'));
 *   await withClient(pgOwner(id), (c) => c.query('INSERT INTO public.t VALUES (1)'));
 */
import { resolve } from 'node:path';
import { localEndpoints } from '@cdc/local-stack';
import pg from 'pg';

/** The stack's superuser on `database`, over its Unix socket (slots, databases, settings). */
export function pgSuperuser(database: string): pg.Client {
  const ep = localEndpoints();
  return new pg.Client({
    host: resolve(ep.stackDir, 'data/postgres/sock'),
    port: ep.postgres.port,
    user: 'postgres',
    database,
  });
}

/** Role `cdc`, the pipeline's own user, on `database` over TCP. */
export function pgOwner(database: string): pg.Client {
  return new pg.Client({
    host: '127.0.0.1',
    port: localEndpoints().postgres.port,
    user: 'cdc',
    password: 'cdc',
    database,
  });
}

/** Connects `client`, runs `fn` with it, and closes it whatever happens. */
export async function withClient<T>(client: pg.Client, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates database `id` owned by role `cdc`, runs `fill` in it as role `cdc` (tables and rows),
 * then creates publication `id` (`FOR TABLES IN SCHEMA public` unless told otherwise).
 */
export async function createSourceDatabase(
  id: string,
  fill: (db: pg.Client) => Promise<unknown>,
  publication = 'FOR TABLES IN SCHEMA public',
): Promise<void> {
  await withClient(pgSuperuser('postgres'), (c) => c.query(`CREATE DATABASE ${id} OWNER cdc`));
  await withClient(pgSuperuser(id), async (db) => {
    await db.query('SET ROLE cdc');
    await fill(db);
    await db.query('RESET ROLE');
    await db.query(`CREATE PUBLICATION ${id} ${publication}`);
  });
}

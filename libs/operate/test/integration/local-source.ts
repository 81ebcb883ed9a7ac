/** The local stack's PostgreSQL as a verify source named `name`, connected with verify's session settings. */
import type { PostgresSource } from '@cdc/pipeline';
import type pg from 'pg';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { connectSource } from '../../src/verify/postgres-side.ts';

export function connectLocalSource(name: string): Promise<pg.Client> {
  const ep = localEndpoints();
  return connectSource({
    name,
    connection: {
      host: ep.postgres.host,
      port: ep.postgres.port,
      database: 'cdc',
      user: 'cdc',
      password: 'cdc',
      ssl: false,
    },
  } as unknown as PostgresSource);
}

import { describe, expect, it } from 'vitest';
import { authenticationError, shouldRestart } from './capture.ts';

const source = {
  name: 'shop',
  connection: { host: 'db', port: 5432, database: 'shop', user: 'cdc' },
} as Parameters<typeof authenticationError>[1];

describe('a refused PostgreSQL login', () => {
  it('names the key to fix and is not restarted', () => {
    const err = Object.assign(new Error('password authentication failed for user "cdc"'), { code: '28P01' });
    const e = authenticationError(err, source, 'sources.postgres[0]');
    expect(e?.code).toBe('SOURCE_PERMISSION_DENIED');
    expect(e?.message).toContain('fix sources.postgres[0].connection.password');
    expect(e?.context.configKey).toBe('sources.postgres[0].connection.password');
    expect(shouldRestart(e)).toBe(false);
  });

  it('names the user key when no pg_hba.conf entry lets it in', () => {
    const err = Object.assign(new Error('no pg_hba.conf entry for host "10.0.0.1", user "x"'), {
      code: '28000',
    });
    expect(authenticationError(err, source, 'sources.postgres[1]')?.message).toContain(
      'fix sources.postgres[1].connection.user',
    );
  });

  it('leaves every other failure alone (retried as before)', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(authenticationError(err, source, 'sources.postgres[0]')).toBeUndefined();
  });
});

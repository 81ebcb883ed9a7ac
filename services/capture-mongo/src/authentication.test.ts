import { MongoServerError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { authenticationError, shouldRestart } from './capture.ts';

describe('a refused MongoDB login', () => {
  it('names sources.mongo[i].uri and is not restarted', () => {
    const err = new MongoServerError({
      ok: 0,
      code: 18,
      codeName: 'AuthenticationFailed',
      errmsg: 'Authentication failed.',
    });
    const e = authenticationError(err, 'docs', 'sources.mongo[0]');
    expect(e?.code).toBe('SOURCE_PERMISSION_DENIED');
    expect(e?.message).toContain('fix the user name or password in sources.mongo[0].uri');
    expect(shouldRestart(e)).toBe(false);
  });

  it('leaves a server that is away alone', () => {
    expect(
      authenticationError(new Error('connect ECONNREFUSED 127.0.0.1:27017'), 'docs', 'x'),
    ).toBeUndefined();
  });
});

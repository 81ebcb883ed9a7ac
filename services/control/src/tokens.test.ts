import { describe, expect, it } from 'vitest';
import { allows, TokenRegistry, tokenHash } from './tokens.ts';

describe('TokenRegistry', () => {
  const reg = new TokenRegistry([
    { name: 'ana', role: 'viewer', sha256: tokenHash('view-secret') },
    { name: 'ops', role: 'operator', sha256: tokenHash('op-secret').toUpperCase() },
  ]);

  it('knows a token by its hash and names who holds it', () => {
    expect(reg.authenticate('Bearer view-secret')).toEqual({ name: 'ana', role: 'viewer' });
    expect(reg.authenticate('bearer op-secret')).toEqual({ name: 'ops', role: 'operator' });
  });

  it('refuses no header, another scheme and an unknown token', () => {
    expect(reg.authenticate(undefined)).toBeUndefined();
    expect(reg.authenticate('Basic dmlldy1zZWNyZXQ=')).toBeUndefined();
    expect(reg.authenticate('Bearer view-secretx')).toBeUndefined();
  });

  it('orders roles: an operator may view, a viewer may not operate', () => {
    expect(allows('operator', 'viewer')).toBe(true);
    expect(allows('viewer', 'operator')).toBe(false);
    expect(allows('admin', 'operator')).toBe(true);
    expect(allows('operator', 'admin')).toBe(false);
  });
});

/**
 * API tokens and roles. The pipeline file holds each token's SHA-256 (`control.tokens`, usually
 * from a secret through `${VAR}`), never the token: a request's `Authorization: Bearer <token>`
 * is hashed and compared in constant time. Roles are ordered: `viewer` reads, `operator` also
 * acts on the pipeline, `admin` also discards and rebuilds.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ControlToken } from '@cdc/pipeline';

export type Role = ControlToken['role'];

export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

/** Who made a request: the token's name and role. */
export interface Principal {
  name: string;
  role: Role;
}

/** SHA-256 of a token as hex (what `control.tokens[].sha256` holds). */
export const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Whether `role` may do what needs `needed`. */
export const allows = (role: Role, needed: Role): boolean => ROLES.indexOf(role) >= ROLES.indexOf(needed);

export class TokenRegistry {
  private readonly tokens: { name: string; role: Role; hash: Buffer }[];

  constructor(tokens: readonly ControlToken[]) {
    this.tokens = tokens.map((t) => ({
      name: t.name,
      role: t.role,
      hash: Buffer.from(t.sha256.toLowerCase(), 'hex'),
    }));
  }

  get size(): number {
    return this.tokens.length;
  }

  /** The principal of an `Authorization` header, or undefined (no header, not Bearer, unknown token). */
  authenticate(authorization: string | undefined): Principal | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return undefined;
    const hash = Buffer.from(tokenHash(m[1] as string), 'hex');
    let found: Principal | undefined;
    // Every token is compared (no early exit), so the time taken says nothing about which matched.
    for (const t of this.tokens)
      if (timingSafeEqual(t.hash, hash) && !found) found = { name: t.name, role: t.role };
    return found;
  }
}

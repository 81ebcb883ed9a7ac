/** The console's calls to the control API: the token from the login form, kept for the tab only. */

const KEY = 'cdc-control-token';

export type Role = 'viewer' | 'operator' | 'admin';
export interface Principal {
  name: string;
  role: Role;
}

export const token = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (t: string) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const t = token.get();
  const r = await fetch(path, {
    method,
    headers: {
      ...(t ? { authorization: `Bearer ${t}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = (await r.json().catch(() => ({}))) as { error?: string };
  if (!r.ok) throw new ApiFailure(r.status, data.error ?? `${r.status} ${r.statusText}`);
  return data as T;
}

export const can = (role: Role | undefined, needed: Role): boolean =>
  role !== undefined &&
  ['viewer', 'operator', 'admin'].indexOf(role) >= ['viewer', 'operator', 'admin'].indexOf(needed);

/** A quarantined row as `GET /api/dead-letters` lists it: `@cdc/operate`'s, as a type only (the bundle takes no code from it). */
export type { QuarantineEntry as DeadLetter } from '@cdc/operate';
export type { GraphNode, PipelineGraph, RatePoint, TableState, TableView } from '../api-types.ts';

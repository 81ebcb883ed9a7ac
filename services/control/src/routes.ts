/**
 * The API's routes: one table that both the server (matching, roles, audit) and the OpenAPI
 * document are made from, so the document cannot drift from what is served.
 */
import type { Role } from './tokens.ts';

export interface RouteSpec {
  method: 'GET' | 'POST';
  /** `/api/tables/{source}/{table}/pause`: `{name}` matches one path segment (URL-decoded). */
  path: string;
  /** The least role allowed. */
  role: Role;
  /** Set for routes that change something: the audit log's action (every call is audited). */
  action?: string;
  summary: string;
  /** A JSON body's properties (POST), for the document. */
  body?: Record<string, { type: string; description: string; items?: { type: string } }>;
}

export const ROUTES = [
  { method: 'GET', path: '/api/whoami', role: 'viewer', summary: 'The caller: token name and role.' },
  {
    method: 'GET',
    path: '/api/status',
    role: 'viewer',
    summary:
      'Per service: running, readiness, restarts, last error, snapshot progress, consumer lag (as `cdc status --json`).',
  },
  {
    method: 'GET',
    path: '/api/tables',
    role: 'viewer',
    summary:
      'Per captured table: state (snapshotting with progress, streaming, paused, stopped with its error), records captured and written, rates, sink lag, end-to-end latency p50/p99, dead letters by reason.',
  },
  {
    method: 'GET',
    path: '/api/pipeline',
    role: 'viewer',
    summary:
      'The pipeline as a graph (sources → topics → processor declarations → sink tables) with live rates.',
  },
  {
    method: 'GET',
    path: '/api/metrics/series',
    role: 'viewer',
    summary:
      'Captured and written records per second, sink lag and latency p50/p99 over the last minutes (one point per scrape).',
  },
  {
    method: 'POST',
    path: '/api/tables/{source}/{table}/pause',
    role: 'operator',
    action: 'pause',
    summary:
      'Pauses a table: from the point the capture reads the command on, nothing of the table reaches its topic; its changes are held, in order, until resume.',
  },
  {
    method: 'POST',
    path: '/api/tables/{source}/{table}/resume',
    role: 'operator',
    action: 'resume',
    summary: 'Resumes a paused table: what it held is written to its topic in order, then it flows again.',
  },
  {
    method: 'POST',
    path: '/api/tables/{source}/{table}/resync',
    role: 'operator',
    action: 'resync',
    summary:
      'Reads the table (or a key range of it, or listed MongoDB keys) again through the capture (PostgreSQL: the incremental snapshot; MongoDB: a re-read between two change events), while streaming goes on.',
    body: {
      from: {
        type: 'array',
        items: { type: 'string' },
        description: 'First key (text values of the key columns), inclusive; omitted: from the start.',
      },
      to: {
        type: 'array',
        items: { type: 'string' },
        description: 'Last key, inclusive; omitted: to the end.',
      },
      keys: {
        type: 'array',
        items: { type: 'array' },
        description:
          'MongoDB only: these keys (each a list of one value, the _id as canonical Extended JSON); a key the collection no longer holds is deleted from the replica.',
      },
    },
  },
  {
    method: 'GET',
    path: '/api/dead-letters',
    role: 'viewer',
    summary:
      'The rows a quality rule quarantined (table, key, broken rules, reason), optionally of one table (`?table=`).',
  },
  {
    method: 'POST',
    path: '/api/dead-letters/{table}/replay',
    role: 'operator',
    action: 'replay',
    summary:
      'Once the source rows are fixed: asks the capture to read the quarantined rows of the table again through the rules.',
  },
  {
    method: 'POST',
    path: '/api/dead-letters/{table}/discard',
    role: 'admin',
    action: 'discard',
    summary: 'Drops the quarantined rows of the table without writing anything.',
  },
  {
    method: 'POST',
    path: '/api/verify',
    role: 'operator',
    action: 'verify',
    summary: 'Runs `cdc verify` (sources against ClickHouse), keeps its report and answers `{ report }`.',
    body: {
      sources: {
        type: 'array',
        items: { type: 'string' },
        description: 'Only these sources (default: every source).',
      },
      timeoutS: { type: 'number', description: 'How long a mismatch may take to converge (default 60).' },
      repair: {
        type: 'boolean',
        description:
          'As `cdc verify --repair`: the differing keys are re-read through the capture (the fix travels through Kafka like any change), then only they are compared again.',
      },
    },
  },
  {
    method: 'GET',
    path: '/api/verify',
    role: 'viewer',
    summary: 'The last verify report as `{ report }` (null before the first run).',
  },
  {
    method: 'POST',
    path: '/api/verify/continuous',
    role: 'operator',
    action: 'verify-continuous',
    summary:
      'Starts `cdc verify --continuous` inside the control service: every table again and again at a rows/s budget, each outcome as `cdc_verify_*` metrics on its /metrics and in GET /api/verify/continuous. 409 while one runs.',
    body: {
      sources: {
        type: 'array',
        items: { type: 'string' },
        description: 'Only these sources (default: every source).',
      },
      rowsPerSecond: { type: 'number', description: 'Source rows read per second at most (default 20000).' },
      intervalS: { type: 'number', description: 'Rest between two runs, in seconds (default 60).' },
      timeoutS: {
        type: 'number',
        description: 'How long a run waits for the pipeline to reach the source position (default 60).',
      },
    },
  },
  {
    method: 'POST',
    path: '/api/verify/continuous/stop',
    role: 'operator',
    action: 'verify-continuous-stop',
    summary: 'Stops the continuous verifier after the run under way.',
  },
  {
    method: 'GET',
    path: '/api/verify/continuous',
    role: 'viewer',
    summary:
      'The continuous verifier as `{ continuous }`: running, budget, runs, the last run line and per table whether it matches (no key differing in two runs in a row), null if never started.',
  },
  {
    method: 'POST',
    path: '/api/sql',
    role: 'viewer',
    summary:
      'One read-only statement against the ClickHouse target (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN); at most 1000 rows.',
    body: { sql: { type: 'string', description: 'The statement.' } },
  },
] as const satisfies readonly RouteSpec[];

export type RoutePath = (typeof ROUTES)[number]['path'];

/** The route and path parameters of a request, or undefined. */
export function matchRoute(
  method: string,
  pathname: string,
): { route: RouteSpec; params: Record<string, string> } | { methodNotAllowed: true } | undefined {
  const parts = pathname.split('/');
  let pathMatched = false;
  for (const route of ROUTES as readonly RouteSpec[]) {
    const pattern = route.path.split('/');
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i] as string;
      const v = parts[i] as string;
      if (p.startsWith('{')) {
        try {
          params[p.slice(1, -1)] = decodeURIComponent(v);
        } catch {
          ok = false;
        }
        ok &&= v.length > 0;
      } else ok = p === v;
    }
    if (!ok) continue;
    pathMatched = true;
    if (route.method === method) return { route, params };
  }
  return pathMatched ? { methodNotAllowed: true } : undefined;
}

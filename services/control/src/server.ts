/**
 * The HTTP(S) listener: `/api/*` (token → role → route, audit), `/api/openapi.json` (no token:
 * the document describes, it reveals nothing), and the console's built files for everything
 * else. Binds to 127.0.0.1 unless `control.host` says otherwise.
 *
 * Audited: every call of a route that changes something (its outcome: ok or failed), and every
 * refused call of any route (401 without a valid token, 403 for a role too low). Never logged or
 * audited: the `Authorization` header or any other secret.
 */
import { readFileSync } from 'node:fs';
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttps } from 'node:https';
import { extname, resolve, sep } from 'node:path';
import { isCdcError, type Logger } from '@cdc/core';
import type { ControlSection } from '@cdc/pipeline';
import type { AuditLog, Outcome } from './audit-log.ts';
import { ApiError, type Handlers } from './handlers.ts';
import { openApiDocument } from './openapi.ts';
import { matchRoute } from './routes.ts';
import { allows, type Principal, type TokenRegistry } from './tokens.ts';

const MAX_BODY = 64 * 1024;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export interface ControlServerOptions {
  section: ControlSection;
  tokens: TokenRegistry;
  audit: AuditLog;
  handlers: Handlers;
  /** The console's built files (index.html and assets); absent: no console. */
  consoleDir?: string;
  version: string;
  logger: Logger;
}

export class ControlServer {
  private readonly o: ControlServerOptions;
  private server: Server | undefined;

  constructor(options: ControlServerOptions) {
    this.o = options;
  }

  /** Listens; resolves with the URL. */
  async listen(): Promise<string> {
    const { section } = this.o;
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        this.o.logger.error('request failed', { err: (err as Error).message });
        if (!res.headersSent) json(res, 500, { error: 'internal error (see the control service log)' });
        else res.end();
      });
    };
    const server = section.tls
      ? createHttps(
          { cert: readFileSync(section.tls.certFile), key: readFileSync(section.tls.keyFile) },
          handler,
        )
      : createHttp(handler);
    this.server = server;
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(section.port, section.host, () => done());
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : section.port;
    const host = section.host.includes(':') ? `[${section.host}]` : section.host;
    return `${section.tls ? 'https' : 'http'}://${host}:${port}/`;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((done) => s.close(() => done()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<undefined> {
    const t0 = Date.now();
    const url = new URL(req.url ?? '/', 'http://control');
    const method = req.method ?? 'GET';
    res.on('finish', () =>
      this.o.logger.debug('request', {
        method,
        path: url.pathname,
        status: res.statusCode,
        ms: Date.now() - t0,
      }),
    );
    if (url.pathname === '/api/openapi.json') return json(res, 200, openApiDocument(this.o.version));
    if (!url.pathname.startsWith('/api/')) return this.serveConsole(url.pathname, res);
    const found = matchRoute(method, url.pathname);
    if (!found)
      return json(res, 404, { error: `no route ${url.pathname} (GET /api/openapi.json lists them)` });
    if ('methodNotAllowed' in found)
      return json(res, 405, { error: `${method} is not allowed on ${url.pathname}` });
    const { route, params } = found;
    const remote = req.socket.remoteAddress ?? '';
    const audit = (
      principal: Principal | undefined,
      outcome: Outcome,
      status: number,
      target: string,
      detail: string,
    ) =>
      this.o.audit.write({
        actor: principal?.name ?? 'anonymous',
        role: principal?.role ?? '',
        method,
        path: url.pathname,
        action: route.action ?? 'read',
        target,
        outcome,
        status,
        detail,
        remote,
      });
    const target = Object.values(params).join('/');
    const principal = this.o.tokens.authenticate(req.headers.authorization);
    if (!principal) {
      const detail = req.headers.authorization ? 'unknown token' : 'no token';
      await audit(undefined, 'unauthenticated', 401, target, detail);
      res.setHeader('WWW-Authenticate', 'Bearer');
      return json(res, 401, {
        error: `${detail}: send Authorization: Bearer <token> with a token of control.tokens`,
      });
    }
    if (!allows(principal.role, route.role)) {
      await audit(principal, 'denied', 403, target, `needs role ${route.role}`);
      return json(res, 403, {
        error: `${principal.name} (${principal.role}) may not do this: it needs role ${route.role}`,
      });
    }
    let body: Record<string, unknown> = {};
    if (method === 'POST') {
      try {
        body = await readJson(req);
      } catch (err) {
        if (route.action) await audit(principal, 'failed', 400, target, (err as Error).message);
        return json(res, 400, { error: (err as Error).message });
      }
    }
    try {
      const r = await this.o.handlers.run(method, route.path, {
        principal,
        params,
        query: url.searchParams,
        body,
      });
      if (route.action) await audit(principal, 'ok', 200, r.target ?? target, r.detail ?? '');
      return json(res, 200, r.body);
    } catch (err) {
      const status = err instanceof ApiError ? err.status : isCdcError(err) && err.retriable ? 503 : 500;
      const message = isCdcError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
      if (route.action) await audit(principal, 'failed', status, target, message.slice(0, 500));
      if (status >= 500) this.o.logger.warn('request failed', { path: url.pathname, status, err: message });
      return json(res, status, { error: message });
    }
  }

  private serveConsole(pathname: string, res: ServerResponse): undefined {
    const dir = this.o.consoleDir;
    if (!dir) return json(res, 404, { error: 'this build has no console; the API is under /api/' });
    const file = resolve(dir, `.${pathname === '/' ? '/index.html' : decodeURIComponent(pathname)}`);
    if (!file.startsWith(resolve(dir) + sep)) return json(res, 404, { error: 'not found' });
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      // A client-side route: the console's page.
      try {
        data = readFileSync(resolve(dir, 'index.html'));
      } catch {
        return json(res, 404, { error: 'not found' });
      }
      res.writeHead(200, { 'content-type': TYPES['.html'] as string });
      res.end(data);
      return undefined;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    res.end(data);
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown): undefined {
  const text = JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
  return undefined;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error(`the body is larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('the body is not JSON: send a JSON object (or nothing)');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error('the body must be a JSON object');
  return v as Record<string, unknown>;
}

/**
 * A typed client for the Confluent Schema Registry REST API (the documented endpoints under
 * `/subjects`, `/schemas/ids`, `/config` and `/compatibility`, which Apicurio's ccompat API
 * serves too), over Node's own HTTP(S) client: no other library, so that the registry's CA
 * (`registry.ca`), basic auth and keep-alive are set on one agent the client owns.
 *
 * A request that fails with a network error or a 5xx (a registry restarting) is retried inside
 * the client (`retries`, default 2, 100 ms doubling with jitter); then the failure is a
 * `CdcError`: an unreachable registry is `SCHEMA_REGISTRY_UNAVAILABLE` and retriable, so the
 * service's unit retries it; a 409 from `register` is `SCHEMA_INCOMPATIBLE` with the registry's
 * own message (`registerSchema` in `evolution.ts` explains it further).
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { CdcError, type ErrorContext, type Logger, noopLogger } from '@cdc/core';
import type { AvroSchema } from './schema-types.ts';

export const COMPATIBILITY_LEVELS = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

export interface RegistryClientOptions {
  /** Base URL of the Confluent-compatible API, e.g. `http://127.0.0.1:18081/apis/ccompat/v7`. */
  url: string;
  auth?: { username: string; password: string };
  /**
   * The CA that signed the registry's certificate (https): a PEM block, or the path of a PEM
   * file (`registry.ca` of the pipeline file). Without it the system's CAs are trusted.
   */
  ca?: string;
  /** Retries of a request that failed with a network error or a 5xx, inside the client (default 2). */
  retries?: number;
  /** Timeout of one HTTP request in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Called before every HTTP request the client makes (for metrics, and for tests that count them). */
  onRequest?: (method: string, url: string) => void;
  logger?: Logger;
}

export interface SubjectVersion {
  subject: string;
  version: number;
  id: number;
  /** The schema text as the registry stores it. */
  schema: string;
}

/** A non-2xx answer, or a request that got no answer (`status` undefined). */
class RegistryHttpError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status: number | undefined) {
    super(message);
    this.status = status;
  }
}

const NETWORK =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|socket hang up|timeout/i;

/** TLS verification failures: retrying does not help, `registry.ca` does. */
const CERTIFICATE =
  /self[- ]signed certificate|unable to (get|verify) .*certificate|certificate (has expired|is not yet valid)|Hostname\/IP does not match|CERT_|ERR_TLS_CERT/i;

const MEDIA_TYPE = 'application/vnd.schemaregistry.v1+json';

function statusOf(err: unknown): number | undefined {
  return err instanceof RegistryHttpError ? err.status : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function schemaText(schema: AvroSchema | string): string {
  return typeof schema === 'string' ? schema : JSON.stringify(schema);
}

/** `registry.ca`: a PEM block as is, else the file it names. */
export function registryCa(value: string): string {
  if (value.includes('-----BEGIN')) return value;
  if (!existsSync(value))
    throw new CdcError(
      'CONFIG_INVALID',
      `registry.ca: ${value} is neither a PEM block nor an existing file; give the CA certificate that signed the registry's certificate, inline or as a path`,
      { context: { path: 'registry.ca' } },
    );
  return readFileSync(value, 'utf8');
}

/** Whether a failed attempt may succeed when tried again (a registry restarting, a proxy's 502). */
function transient(err: unknown): boolean {
  const status = statusOf(err);
  if (status === undefined) return !CERTIFICATE.test(messageOf(err));
  return status >= 500 || status === 408 || status === 429;
}

export class RegistryClient {
  readonly url: string;
  /** The agent every request goes through: keep-alive, and `ca` for https. */
  readonly agent: http.Agent;
  private readonly base: URL;
  private readonly authorization: string | undefined;
  private readonly retries: number;
  private readonly timeoutMs: number;
  private readonly onRequest: RegistryClientOptions['onRequest'];
  private readonly logger: Logger;

  constructor(options: RegistryClientOptions) {
    try {
      this.base = new URL(`${options.url.replace(/\/+$/, '')}/`);
    } catch {
      throw new CdcError('CONFIG_INVALID', 'registry.url is not a valid URL', {
        context: { path: 'registry.url' },
      });
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:')
      throw new CdcError(
        'CONFIG_INVALID',
        `registry.url must start with http:// or https://, not ${this.base.protocol}`,
        {
          context: { path: 'registry.url' },
        },
      );
    this.logger = options.logger ?? noopLogger;
    this.retries = options.retries ?? 2;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.onRequest = options.onRequest;
    // Credentials in the URL (https://user:pass@host) or in `auth`; never sent in the URL itself.
    const user = options.auth?.username ?? decodeURIComponent(this.base.username);
    const pass = options.auth?.password ?? decodeURIComponent(this.base.password);
    this.authorization = user ? `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` : undefined;
    this.base.username = '';
    this.base.password = '';
    /** The base URL without credentials, as errors and logs show it. */
    this.url = this.base.toString().replace(/\/+$/, '');
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ...(options.ca ? { ca: registryCa(options.ca) } : {}) })
        : new http.Agent({ keepAlive: true });
  }

  /** Ends the idle keep-alive connections (a process also exits with them open). */
  close(): void {
    this.agent.destroy();
  }

  /** One request, retried while it fails transiently; resolves with the parsed JSON body. */
  private async request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    const text = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once<T>(method, url, text);
      } catch (err) {
        if (attempt >= this.retries || !transient(err)) throw err;
        const delay = 100 * 2 ** attempt * (0.8 + Math.random() * 0.4);
        this.logger.debug('schema registry request failed; retrying', {
          method,
          path: url.pathname,
          attempt: attempt + 1,
          error: messageOf(err),
        });
        await sleep(delay);
      }
    }
  }

  private once<T>(method: string, url: URL, body: string | undefined): Promise<T> {
    this.onRequest?.(method, url.toString());
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = client.request(
        url,
        {
          method,
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            Accept: `${MEDIA_TYPE}, application/vnd.schemaregistry+json, application/json`,
            'User-Agent': 'cdc',
            ...(body === undefined
              ? {}
              : { 'Content-Type': MEDIA_TYPE, 'Content-Length': Buffer.byteLength(body) }),
            ...(this.authorization ? { Authorization: this.authorization } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(new RegistryHttpError(err.message, undefined)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            if (status >= 200 && status < 300) {
              if (parsed === undefined && text)
                reject(new RegistryHttpError(`the answer to ${method} ${url.pathname} is not JSON`, status));
              else resolve(parsed as T);
              return;
            }
            const message =
              (parsed as { message?: unknown } | undefined)?.message ??
              (text.slice(0, 500) || res.statusMessage);
            reject(new RegistryHttpError(`${String(message)} (HTTP ${status})`, status));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout after ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(new RegistryHttpError(err.message, undefined)));
      req.end(body);
    });
  }

  /** Registers `schema` under `subject` (idempotent: an identical schema returns its id). */
  async register(subject: string, schema: AvroSchema | string): Promise<number> {
    try {
      const { id } = await this.request<{ id: number }>(
        'POST',
        `subjects/${encodeURIComponent(subject)}/versions`,
        {
          schema: schemaText(schema),
        },
      );
      this.logger.debug('schema registered', { subject, schemaId: id });
      return id;
    } catch (err) {
      if (statusOf(err) === 409) {
        throw new CdcError(
          'SCHEMA_INCOMPATIBLE',
          `the schema registry rejected the schema for subject ${subject} as incompatible: ${messageOf(err)}`,
          { context: { subject, registryUrl: this.url }, cause: err },
        );
      }
      throw this.toError(err, `registering a schema under subject ${subject}`, { subject });
    }
  }

  /** The id and version of `schema` under `subject`, or `undefined` when it is not registered there. */
  async lookup(subject: string, schema: AvroSchema | string): Promise<SubjectVersion | undefined> {
    try {
      return await this.request<SubjectVersion>('POST', `subjects/${encodeURIComponent(subject)}`, {
        schema: schemaText(schema),
      });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.toError(err, `looking up a schema under subject ${subject}`, { subject });
    }
  }

  /** The schema text stored under a global id, or `undefined` when no schema has that id. */
  async schemaById(id: number): Promise<string | undefined> {
    try {
      return (await this.request<{ schema: string }>('GET', `schemas/ids/${id}`)).schema;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.toError(err, `fetching schema id ${id}`, { schemaId: id });
    }
  }

  async subjects(): Promise<string[]> {
    try {
      return await this.request<string[]>('GET', 'subjects');
    } catch (err) {
      throw this.toError(err, 'listing subjects');
    }
  }

  /** One version of a subject (`latest` for the newest), or `undefined` when there is none. */
  async version(subject: string, version: number | 'latest'): Promise<SubjectVersion | undefined> {
    try {
      return await this.request<SubjectVersion>(
        'GET',
        `subjects/${encodeURIComponent(subject)}/versions/${version}`,
      );
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.toError(err, `fetching version ${version} of subject ${subject}`, { subject });
    }
  }

  /** Every live version of a subject, oldest first (empty for an unknown subject). */
  async versions(subject: string): Promise<SubjectVersion[]> {
    const latest = await this.version(subject, 'latest');
    if (!latest) return [];
    const all: SubjectVersion[] = [];
    for (let v = 1; v < latest.version; v++) {
      const found = await this.version(subject, v);
      if (found) all.push(found);
    }
    all.push(latest);
    return all;
  }

  /** The subject's compatibility level, or the registry-wide one when the subject has none of its own. */
  async compatibilityLevel(subject: string): Promise<CompatibilityLevel | undefined> {
    try {
      const res = await this.request<{ compatibilityLevel?: string }>(
        'GET',
        `config/${encodeURIComponent(subject)}?defaultToGlobal=true`,
      );
      const level = res.compatibilityLevel?.toUpperCase();
      return (COMPATIBILITY_LEVELS as readonly string[]).includes(level ?? '')
        ? (level as CompatibilityLevel)
        : undefined;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.toError(err, `reading the compatibility level of subject ${subject}`, { subject });
    }
  }

  /** Sets the subject's own compatibility level. */
  async setCompatibilityLevel(subject: string, level: CompatibilityLevel): Promise<void> {
    try {
      await this.request('PUT', `config/${encodeURIComponent(subject)}`, { compatibility: level });
    } catch (err) {
      throw this.toError(err, `setting the compatibility level of subject ${subject}`, { subject });
    }
  }

  /**
   * Whether the registry would accept `schema` as the next version of `subject` under the
   * subject's compatibility level (true for a subject that does not exist yet).
   */
  async isCompatible(
    subject: string,
    schema: AvroSchema | string,
    version: number | 'latest' = 'latest',
  ): Promise<boolean> {
    try {
      const res = await this.request<{ is_compatible: boolean }>(
        'POST',
        `compatibility/subjects/${encodeURIComponent(subject)}/versions/${version}`,
        { schema: schemaText(schema) },
      );
      return res.is_compatible === true;
    } catch (err) {
      if (statusOf(err) === 404) return true;
      throw this.toError(err, `checking compatibility under subject ${subject}`, { subject });
    }
  }

  /** An HTTP failure as a `CdcError` that says what to do. */
  private toError(err: unknown, what: string, context: ErrorContext = {}): CdcError {
    if (err instanceof CdcError) return err;
    const status = statusOf(err);
    const message = messageOf(err);
    const ctx = { ...context, registryUrl: this.url, ...(status === undefined ? {} : { status }) };
    if (status === undefined && CERTIFICATE.test(message)) {
      return new CdcError(
        'SCHEMA_REGISTRY_UNAVAILABLE',
        `${what}: the certificate of the schema registry at ${this.url} is not trusted (${message}); set registry.ca to the CA certificate that signed it (a PEM block or the path of a PEM file)`,
        { context: ctx, cause: err },
      );
    }
    if (status === undefined || status >= 500 || status === 408 || status === 429 || NETWORK.test(message)) {
      return new CdcError(
        'SCHEMA_REGISTRY_UNAVAILABLE',
        `${what}: the schema registry at ${this.url} is unavailable (${message}); check that it is running and reachable (registry.url)`,
        { retriable: true, context: ctx, cause: err },
      );
    }
    if (status === 401 || status === 403) {
      return new CdcError(
        'SCHEMA_REGISTRY_UNAVAILABLE',
        `${what}: the schema registry at ${this.url} refused the credentials (HTTP ${status}: ${message}); check registry.auth`,
        { context: ctx, cause: err },
      );
    }
    return new CdcError('SERDE_FAILED', `${what}: the schema registry answered HTTP ${status}: ${message}`, {
      context: ctx,
      cause: err,
    });
  }
}

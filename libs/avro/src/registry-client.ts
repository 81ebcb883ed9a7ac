/**
 * A typed client for the Confluent Schema Registry REST API, on the HTTP client of
 * `@kafkajs/confluent-schema-registry` (its mappersmith resources with the library's retry,
 * basic-auth, content-type and error middlewares). The library's `SchemaRegistry` class is not
 * used directly: its `register` insists that the subject's compatibility level equals the one
 * it is given, and it does not expose schema texts, compatibility checks or subject listings,
 * all of which the serde's caches and the schema tooling need.
 *
 * Failures are `CdcError`s: an unreachable registry (connection refused, 5xx) is
 * `SCHEMA_REGISTRY_UNAVAILABLE` and retriable; a 409 from `register` is `SCHEMA_INCOMPATIBLE`
 * with the registry's own message (`registerSchema` in `evolution.ts` explains it further).
 */
import { CdcError, type ErrorContext, type Logger, noopLogger } from '@cdc/core';
import apiModule from '@kafkajs/confluent-schema-registry/dist/api/index.js';
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
  /** Retries of a request that failed with a 5xx, inside the client (default 2). */
  retries?: number;
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

/** What the mappersmith resources give back (the library types them as `any`). */
interface MappersmithResponse {
  status(): number;
  data<T>(): T;
}
interface MappersmithRequest {
  method(): string;
  url(): string;
}
type Call = (params: Record<string, unknown>) => Promise<MappersmithResponse>;
interface ApiClient {
  Schema: { find: Call };
  Subject: {
    all: Call;
    latestVersion: Call;
    version: Call;
    registered: Call;
    config: Call;
    updateConfig: Call;
    register: Call;
    compatible: Call;
  };
}

/** The error the library's error middleware throws for a non-2xx response or a network failure. */
interface ResponseErrorShape {
  status?: number;
  message?: string;
}

/**
 * The library's API client factory. Node hands a CommonJS module's `exports` to a default
 * import (so the factory is `.default`); bundlers such as vitest's hand over `exports.default`.
 */
type ApiFactory = typeof apiModule.default;
const createApiClient: ApiFactory =
  typeof apiModule === 'function' ? (apiModule as unknown as ApiFactory) : apiModule.default;

const NETWORK =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|socket hang up|timeout/i;

function statusOf(err: unknown): number | undefined {
  const s = (err as ResponseErrorShape | undefined)?.status;
  return typeof s === 'number' ? s : undefined;
}

/** The registry's message without the client-id prefix the library adds. */
function messageOf(err: unknown): string {
  const m = (err as ResponseErrorShape | undefined)?.message ?? String(err);
  return m.replace(/^[\w-]+ - /, '');
}

function schemaText(schema: AvroSchema | string): string {
  return typeof schema === 'string' ? schema : JSON.stringify(schema);
}

export class RegistryClient {
  readonly url: string;
  private readonly api: ApiClient;
  private readonly logger: Logger;

  constructor(options: RegistryClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.logger = options.logger ?? noopLogger;
    const onRequest = options.onRequest;
    const middlewares = onRequest
      ? [
          () => ({
            request: (req: MappersmithRequest) => {
              onRequest(req.method().toUpperCase(), req.url());
              return req;
            },
          }),
        ]
      : [];
    this.api = createApiClient({
      host: this.url,
      clientId: 'cdc',
      retry: { retries: options.retries ?? 2 },
      ...(options.auth ? { auth: options.auth } : {}),
      // biome-ignore lint/suspicious/noExplicitAny: mappersmith's Middleware type is not exported by the library
      middlewares: middlewares as any,
    }) as unknown as ApiClient;
  }

  /** Registers `schema` under `subject` (idempotent: an identical schema returns its id). */
  async register(subject: string, schema: AvroSchema | string): Promise<number> {
    try {
      const res = await this.api.Subject.register({ subject, body: { schema: schemaText(schema) } });
      const { id } = res.data<{ id: number }>();
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
      const res = await this.api.Subject.registered({ subject, body: { schema: schemaText(schema) } });
      return res.data<SubjectVersion>();
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.toError(err, `looking up a schema under subject ${subject}`, { subject });
    }
  }

  /** The schema text stored under a global id, or `undefined` when no schema has that id. */
  async schemaById(id: number): Promise<string | undefined> {
    try {
      const res = await this.api.Schema.find({ id });
      return res.data<{ schema: string }>().schema;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.toError(err, `fetching schema id ${id}`, { schemaId: id });
    }
  }

  async subjects(): Promise<string[]> {
    try {
      return (await this.api.Subject.all({})).data<string[]>();
    } catch (err) {
      throw this.toError(err, 'listing subjects');
    }
  }

  /** One version of a subject (`latest` for the newest), or `undefined` when there is none. */
  async version(subject: string, version: number | 'latest'): Promise<SubjectVersion | undefined> {
    try {
      const res = await this.api.Subject.version({ subject, version });
      return res.data<SubjectVersion>();
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
      const res = await this.api.Subject.config({ subject, defaultToGlobal: true });
      const level = res.data<{ compatibilityLevel?: string }>().compatibilityLevel?.toUpperCase();
      return (COMPATIBILITY_LEVELS as readonly string[]).includes(level ?? '')
        ? (level as CompatibilityLevel)
        : undefined;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.toError(err, `reading the compatibility level of subject ${subject}`, { subject });
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
      const res = await this.api.Subject.compatible({
        subject,
        version,
        body: { schema: schemaText(schema) },
      });
      return res.data<{ is_compatible: boolean }>().is_compatible === true;
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

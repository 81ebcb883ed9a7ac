/**
 * Config: a YAML file, `${ENV}` references inside it, then environment overrides, validated
 * once at start-up against a schema. Errors name the file and the bad key.
 *
 *   const config = loadConfig(PipelineSchema, { file: 'pipeline.yaml' });
 *
 * Overrides: `CDC__KAFKA__BROKERS='[127.0.0.1:9092]'` sets `kafka.brokers` (the path after the
 * prefix, `__` between keys, matched case-insensitively; the value is parsed as YAML).
 * References: `password: ${PG_PASSWORD}` or `${PG_PASSWORD:-default}` read the environment.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { CdcError } from './errors.ts';
import { redactSecrets } from './redact.ts';

export interface LoadConfigOptions {
  /** The YAML (or JSON) file. */
  file?: string;
  /** Config given inline instead of (or under) the file. */
  base?: unknown;
  env?: NodeJS.ProcessEnv;
  /** Prefix of override variables (default `CDC__`). */
  envPrefix?: string;
}

type Doc = Record<string, unknown>;

function readDoc(file: string): Doc {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CdcError(
      'CONFIG_FILE_UNREADABLE',
      `cannot read config file ${file}: ${(err as Error).message}. Pass an existing file with --config`,
      {
        context: { file },
        cause: err,
      },
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new CdcError('CONFIG_INVALID', `config file ${file} is not valid YAML: ${(err as Error).message}`, {
      context: { file },
      cause: err,
    });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new CdcError('CONFIG_INVALID', `config file ${file} must hold a mapping at the top level`, {
      context: { file },
    });
  }
  return doc as Doc;
}

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${NAME}` / `${NAME:-default}` in every string of the document. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: string[] = []): unknown {
  if (typeof value === 'string') {
    // A value that is one reference and nothing else takes the variable's type (`port: ${PORT}` is a number).
    const whole = /^\$\{[^}]+\}$/.test(value);
    const replaced = value.replace(REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new CdcError(
        'CONFIG_INVALID',
        `${path.join('.') || '(root)'} refers to \${${name}}, which is not set: export ${name} or give a default as \${${name}:-value}`,
        {
          context: { key: path.join('.'), variable: name },
        },
      );
    });
    return whole ? parseScalar(replaced) : replaced;
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, [...path, String(i)]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, [...path, k])]),
    );
  }
  return value;
}

/** Applies `<prefix>A__B=value` overrides onto the document, matching keys case-insensitively. */
export function applyEnvOverrides(doc: Doc, env: NodeJS.ProcessEnv, prefix = 'CDC__'): Doc {
  const out = structuredClone(doc);
  for (const [name, raw] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith(prefix) || raw === undefined) continue;
    const path = name.slice(prefix.length).split('__').filter(Boolean);
    if (path.length === 0) continue;
    let node: Doc = out;
    for (let i = 0; i < path.length; i++) {
      const want = path[i]!;
      const key = Object.keys(node).find((k) => k.toLowerCase() === want.toLowerCase()) ?? camel(want);
      if (i === path.length - 1) {
        node[key] = parseScalar(raw);
      } else {
        const next = node[key];
        if (next === undefined || next === null) node[key] = {};
        else if (typeof next !== 'object' || Array.isArray(next)) {
          throw new CdcError(
            'CONFIG_INVALID',
            `${name} overrides inside ${path.slice(0, i + 1).join('.')}, which is not a mapping`,
            {
              context: { variable: name },
            },
          );
        }
        node = node[key] as Doc;
      }
    }
  }
  return out;
}

function camel(envKey: string): string {
  return envKey.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function parseScalar(raw: string): unknown {
  try {
    return parseYaml(raw);
  } catch {
    return raw;
  }
}

/** Formats schema issues as `key.path: problem` lines. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

export function loadConfig<S extends z.ZodType>(schema: S, options: LoadConfigOptions = {}): z.output<S> {
  const env = options.env ?? process.env;
  const fromFile = options.file ? readDoc(options.file) : {};
  const base = (options.base ?? {}) as Doc;
  const merged = applyEnvOverrides(
    interpolateEnv({ ...base, ...fromFile }, env) as Doc,
    env,
    options.envPrefix,
  );
  const result = schema.safeParse(merged);
  if (!result.success) {
    const lines = describeIssues(result.error);
    const where = options.file ? ` in ${options.file}` : '';
    throw new CdcError('CONFIG_INVALID', `invalid config${where}:\n  ${lines.join('\n  ')}`, {
      context: { file: options.file, keys: result.error.issues.map((i) => i.path.join('.')) },
    });
  }
  return result.data;
}

/** The config as it may be printed: secrets replaced by `***`. */
export function printableConfig(config: unknown): string {
  return JSON.stringify(redactSecrets(config), null, 2);
}

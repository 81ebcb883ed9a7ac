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

/**
 * Applies `<prefix>A__B=value` overrides onto the document, matching keys case-insensitively.
 * `origins` (when given) receives each overridden path (`a.b`) and the variable that set it.
 */
export function applyEnvOverrides(
  doc: Doc,
  env: NodeJS.ProcessEnv,
  prefix = 'CDC__',
  origins?: Map<string, string>,
): Doc {
  const out = structuredClone(doc);
  for (const [name, raw] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith(prefix) || raw === undefined) continue;
    const path = name.slice(prefix.length).split('__').filter(Boolean);
    if (path.length === 0) continue;
    let node: Doc = out;
    const keys: string[] = [];
    for (let i = 0; i < path.length; i++) {
      const want = path[i]!;
      const key = Object.keys(node).find((k) => k.toLowerCase() === want.toLowerCase()) ?? camel(want);
      keys.push(key);
      if (i === path.length - 1) {
        node[key] = parseScalar(raw);
        origins?.set(keys.join('.'), name);
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

type Def = { type: string; [k: string]: unknown };
const defOf = (schema: unknown): Def | undefined =>
  (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def;

/** The object schemas a (zod) schema can be at one place of the document, wrappers and unions looked through. */
function objectsIn(schema: unknown, into: Def[] = [], depth = 0): Def[] {
  const def = defOf(schema);
  if (!def || depth > 20) return into;
  switch (def.type) {
    case 'object':
      into.push(def);
      break;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      objectsIn(def.innerType, into, depth + 1);
      break;
    case 'pipe':
      objectsIn(def.in, into, depth + 1);
      break;
    case 'lazy':
      objectsIn((def.getter as () => unknown)(), into, depth + 1);
      break;
    case 'union':
      for (const o of def.options as unknown[]) objectsIn(o, into, depth + 1);
      break;
    case 'intersection':
      objectsIn(def.left, into, depth + 1);
      objectsIn(def.right, into, depth + 1);
      break;
    default:
      break;
  }
  return into;
}

/** What a (zod) schema holds under one key or index, wrappers and unions looked through. */
function childrenOf(schema: unknown, key: PropertyKey, depth = 0): unknown[] {
  const def = defOf(schema);
  if (!def || depth > 20) return [];
  switch (def.type) {
    case 'object': {
      const child = (def.shape as Record<string, unknown>)[String(key)];
      return child === undefined ? [] : [child];
    }
    case 'array':
      return [def.element];
    case 'record':
      return [def.valueType];
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return childrenOf(def.innerType, key, depth + 1);
    case 'pipe':
      return childrenOf(def.in, key, depth + 1);
    case 'lazy':
      return childrenOf((def.getter as () => unknown)(), key, depth + 1);
    case 'union':
      return (def.options as unknown[]).flatMap((o) => childrenOf(o, key, depth + 1));
    case 'intersection':
      return [...childrenOf(def.left, key, depth + 1), ...childrenOf(def.right, key, depth + 1)];
    default:
      return [];
  }
}

/** The keys the schema accepts at `path` (an object's path in the document). */
export function validKeysAt(schema: unknown, path: readonly PropertyKey[]): string[] {
  let here: unknown[] = [schema];
  for (const key of path) here = here.flatMap((s) => childrenOf(s, key));
  return [...new Set(here.flatMap((s) => objectsIn(s)).flatMap((d) => Object.keys(d.shape as object)))];
}

/** Optimal string alignment distance (Levenshtein with transpositions): `bacth` → `batch` is 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

/** The valid key closest to `key` (case and `_`/`-` ignored first), if it is close enough to be a typo. */
export function closestKey(key: string, valid: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  const same = valid.find((v) => norm(v) === norm(key));
  if (same) return same;
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const v of valid) {
    const dist = editDistance(norm(key), norm(v));
    if (dist < bestD) {
      bestD = dist;
      best = v;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

type Issue = z.core.$ZodIssue;

/** A union's failure as the issues of the option that came closest (fewest issues), paths made absolute. */
function flatten(issue: Issue, prefix: readonly PropertyKey[] = []): Issue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const best = [...issue.errors].sort((a, b) => a.length - b.length)[0]!;
    if (best.length > 0) return best.flatMap((i) => flatten(i, path));
  }
  return [{ ...issue, path } as Issue];
}

/**
 * Formats schema issues as `key.path: problem` lines. An unknown key is named with its full
 * path and the closest valid key: `clickhouse.sink.bacth: unknown key; did you mean batch?`.
 * `origins` names the environment variable that set a path (`CDC__…`), when one did.
 */
export function describeIssues(
  error: z.ZodError,
  schema?: unknown,
  origins: ReadonlyMap<string, string> = new Map(),
): string[] {
  const lines: string[] = [];
  const show = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join('.') : '(root)');
  const from = (path: string) => {
    for (const [p, v] of origins) if (path === p || path.startsWith(`${p}.`)) return ` (set by ${v})`;
    return '';
  };
  for (const issue of error.issues.flatMap((i) => flatten(i))) {
    if (issue.code === 'unrecognized_keys') {
      const valid = schema === undefined ? [] : validKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        const where = show([...issue.path, key]);
        const near = closestKey(key, valid);
        const hint = near
          ? `did you mean ${near}?`
          : valid.length > 0
            ? `valid keys here: ${valid.join(', ')}`
            : 'remove it';
        lines.push(`${where}: unknown key; ${hint}${from(where)}`);
      }
    } else {
      const where = show(issue.path);
      lines.push(`${where}: ${issue.message}${from(where)}`);
    }
  }
  return lines;
}

export function loadConfig<S extends z.ZodType>(schema: S, options: LoadConfigOptions = {}): z.output<S> {
  const env = options.env ?? process.env;
  const fromFile = options.file ? readDoc(options.file) : {};
  const base = (options.base ?? {}) as Doc;
  const origins = new Map<string, string>();
  const merged = applyEnvOverrides(
    interpolateEnv({ ...base, ...fromFile }, env) as Doc,
    env,
    options.envPrefix,
    origins,
  );
  const result = schema.safeParse(merged);
  if (!result.success) {
    const lines = describeIssues(result.error, schema, origins);
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

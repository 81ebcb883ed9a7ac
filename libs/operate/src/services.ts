import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type { Pipeline } from '@cdc/pipeline';

/** The services a pipeline file can run, in start order (sources first, the sink, then the control service). */
export const SERVICES = [
  'capture-postgres',
  'capture-mongo',
  'processor',
  'sink-clickhouse',
  'control',
] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The services that consume what the captures write: started once the captures are ready, stopped after them. */
export const CONSUMERS: readonly ServiceName[] = ['processor', 'sink-clickhouse'];
export const isConsumer = (name: ServiceName): boolean => CONSUMERS.includes(name);

export const isServiceName = (s: string): s is ServiceName => (SERVICES as readonly string[]).includes(s);

/** The repository root (this file is `libs/operate/{src,dist}/services.{ts,js}`). */
export const REPO_ROOT = resolve(import.meta.dirname, '../../..');

const require = createRequire(import.meta.url);

/** A package's folder and its command (the first `bin` of its package.json), found as Node finds the package. */
export function packageCommand(pkg: string): { dir: string; bin: string } | undefined {
  let manifest: string;
  try {
    manifest = require.resolve(`${pkg}/package.json`);
  } catch {
    return undefined;
  }
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: string | Record<string, string> };
  const first = typeof bin === 'string' ? bin : bin && Object.values(bin)[0];
  return first === undefined ? undefined : { dir: dirname(manifest), bin: resolve(dirname(manifest), first) };
}

/** The command of the service's package `@cdc/<name>` (its `dist/main.js`). */
export function serviceEntry(name: ServiceName): string | undefined {
  return packageCommand(`@cdc/${name}`)?.bin;
}

export type Availability =
  | { name: ServiceName; available: true; entry: string }
  | { name: ServiceName; available: false; reason: string };

/** Whether a service's package is installed and built. */
export function availability(name: ServiceName): Availability {
  const entry = serviceEntry(name);
  if (entry === undefined)
    return {
      name,
      available: false,
      reason: `the package @cdc/${name} is not installed: run \`npm install\``,
    };
  if (existsSync(entry)) return { name, available: true, entry };
  return { name, available: false, reason: `@cdc/${name} is not built: run \`npm run build\`` };
}

/**
 * The services a pipeline file needs: a capture per source kind, the processor when it declares
 * processing, the sink when it has a ClickHouse target, the control service when it has API
 * tokens (without one the API refuses every request).
 */
export function servicesOf(pipeline: Pipeline): ServiceName[] {
  const out: ServiceName[] = [];
  if (pipeline.sources.postgres.length > 0) out.push('capture-postgres');
  if (pipeline.sources.mongo.length > 0) out.push('capture-mongo');
  const p = pipeline.processing;
  if (p && (p.enrich.length > 0 || p.aggregate.length > 0)) out.push('processor');
  if (pipeline.clickhouse) out.push('sink-clickhouse');
  if (pipeline.control.tokens.length > 0) out.push('control');
  return out;
}

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
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

/** The repository root (this file is `services/cli/{src,dist}/services.{ts,js}`). */
export const REPO_ROOT = resolve(import.meta.dirname, '../../..');

/** `services/<name>/dist/main.js`. */
export function serviceEntry(name: ServiceName, root = REPO_ROOT): string {
  return resolve(root, 'services', name, 'dist', 'main.js');
}

export type Availability =
  | { name: ServiceName; available: true; entry: string }
  | { name: ServiceName; available: false; reason: string };

/** Whether a service exists in this checkout and is built. */
export function availability(name: ServiceName, root = REPO_ROOT): Availability {
  const entry = serviceEntry(name, root);
  if (existsSync(entry)) return { name, available: true, entry };
  if (!existsSync(resolve(root, 'services', name, 'src', 'main.ts')))
    return { name, available: false, reason: `services/${name} has no main.ts in this checkout yet` };
  return {
    name,
    available: false,
    reason: `services/${name} is not built: run \`npx tsc -b services/${name}\` (or \`npm run build\`)`,
  };
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

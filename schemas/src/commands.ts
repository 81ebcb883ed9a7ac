/**
 * The schema commands: `register` every checked-in schema (idempotent), `check` each against
 * the registry's compatibility rules without registering, `list` the registry's subjects.
 * Each returns the lines to print and whether it succeeded; `cli.ts` prints and exits.
 */
import {
  explainIncompatibility,
  incompatibleSchemaError,
  type RegistryClient,
  registerSchema,
} from '@cdc/avro';
import { isCdcError } from '@cdc/core';
import type { CatalogEntry } from './catalog.ts';

export interface CommandResult {
  ok: boolean;
  /** Progress and results, for stdout. */
  lines: string[];
  /** Failures, for stderr. */
  errors: string[];
}

export async function registerAll(client: RegistryClient, catalog: CatalogEntry[]): Promise<CommandResult> {
  const result: CommandResult = { ok: true, lines: [], errors: [] };
  for (const entry of catalog) {
    const before = await client.lookup(entry.subject, entry.text);
    if (before) {
      result.lines.push(
        `unchanged   ${entry.subject}  version ${before.version}, id ${before.id}  (${entry.file})`,
      );
      continue;
    }
    try {
      const id = await registerSchema(client, entry.subject, entry.text);
      const after = await client.lookup(entry.subject, entry.text);
      result.lines.push(
        `registered  ${entry.subject}  version ${after?.version ?? '?'}, id ${id}  (${entry.file})`,
      );
    } catch (err) {
      if (!isCdcError(err, 'SCHEMA_INCOMPATIBLE')) throw err;
      result.ok = false;
      result.errors.push(`incompatible ${entry.subject} (${entry.file}): ${err.message}`);
    }
  }
  return result;
}

export async function checkAll(client: RegistryClient, catalog: CatalogEntry[]): Promise<CommandResult> {
  const result: CommandResult = { ok: true, lines: [], errors: [] };
  for (const entry of catalog) {
    const registered = await client.lookup(entry.subject, entry.text);
    if (registered) {
      result.lines.push(`ok  ${entry.subject}: registered as version ${registered.version}  (${entry.file})`);
      continue;
    }
    const latest = await client.version(entry.subject, 'latest');
    if (!latest) {
      result.lines.push(`ok  ${entry.subject}: new subject, not registered yet  (${entry.file})`);
      continue;
    }
    if (await client.isCompatible(entry.subject, entry.text)) {
      result.lines.push(
        `ok  ${entry.subject}: compatible with version ${latest.version}, would become a new version  (${entry.file})`,
      );
      continue;
    }
    result.ok = false;
    const { level, issues } = await explainIncompatibility(client, entry.subject, entry.text);
    const error = incompatibleSchemaError(
      entry.subject,
      level,
      issues,
      'the compatibility check answered is_compatible: false',
    );
    result.errors.push(`incompatible ${entry.subject} (${entry.file}): ${error.message}`);
  }
  return result;
}

export async function listSubjects(
  client: RegistryClient,
  catalog: CatalogEntry[],
  prefix: string,
): Promise<CommandResult> {
  const result: CommandResult = { ok: true, lines: [], errors: [] };
  const files = new Map(catalog.map((e) => [e.subject, e.file]));
  const subjects = (await client.subjects()).filter((s) => s.startsWith(prefix)).sort();
  for (const subject of subjects) {
    const versions = await client.versions(subject);
    const latest = versions.at(-1);
    const file = files.get(subject);
    result.lines.push(
      `${subject}  versions ${versions.map((v) => v.version).join(',')}  latest id ${latest?.id ?? '?'}${file ? `  (${file})` : ''}`,
    );
  }
  for (const entry of catalog) {
    if (!subjects.includes(entry.subject))
      result.lines.push(`${entry.subject}  not registered  (${entry.file})`);
  }
  return result;
}

/**
 * Schema evolution: registering a new version of a subject, explaining a rejection (which
 * field, which rule, under which compatibility level), and what a capture does about it.
 *
 *   const id = await registerSchema(client, 'shop.public.orders-value', nextSchema);
 *   // an incompatible change throws CdcError SCHEMA_INCOMPATIBLE:
 *   //   "subject shop.public.orders-value (BACKWARD) rejects the new schema: field after.warehouse:
 *   //    field added without default — field after.warehouse was added without a default: …"
 *   const action = onIncompatibleSchema('new-topic-version', { topic, error });
 *   // { action: 'new-topic-version', topic: 'shop.public.orders.v2', valueSubject: 'shop.public.orders.v2-value', … }
 */
import { CdcError, isCdcError, type Logger, noopLogger } from '@cdc/core';
import { checkCompatibility, type Incompatibility, RULE_FIXES } from './compatibility.ts';
import type { CompatibilityLevel, RegistryClient, SubjectVersion } from './registry-client.ts';
import type { AvroSchema } from './schema-types.ts';

export interface SchemaIncompatibleContext {
  [key: string]: string | number | boolean | null | undefined | readonly string[];
  subject: string;
  level: string;
  /** The first offending field and rule (undefined when only the registry's message is known). */
  field?: string;
  rule?: string;
  version?: number;
  /** Every finding as `field: rule`. */
  findings?: readonly string[];
  registryMessage?: string;
}

const ruleText = (rule: string) => rule.replaceAll('-', ' ');

/** The `SCHEMA_INCOMPATIBLE` error for a subject, from the checker's findings. */
export function incompatibleSchemaError(
  subject: string,
  level: CompatibilityLevel | string,
  issues: readonly Incompatibility[],
  registryMessage?: string,
  cause?: unknown,
): CdcError<SchemaIncompatibleContext> {
  const first = issues[0];
  if (!first) {
    return new CdcError(
      'SCHEMA_INCOMPATIBLE',
      `subject ${subject} (${level}) rejects the new schema: ${registryMessage ?? 'the registry gave no reason'}. Make the change compatible, or publish it under a new subject (a new topic version).`,
      { context: { subject, level, registryMessage }, cause },
    );
  }
  const where = first.field || '(the top-level schema)';
  const versionText = first.version === undefined ? '' : ` (against version ${first.version})`;
  const more =
    issues.length > 1
      ? ` (${issues.length - 1} more: ${issues
          .slice(1, 4)
          .map((i) => `${i.field || '(top level)'}: ${ruleText(i.rule)}`)
          .join('; ')})`
      : '';
  return new CdcError(
    'SCHEMA_INCOMPATIBLE',
    `subject ${subject} (${level}) rejects the new schema: field ${where}: ${ruleText(first.rule)}${versionText} — ${first.detail}. To fix: ${RULE_FIXES[first.rule]}.${more}`,
    {
      context: {
        subject,
        level,
        field: first.field,
        rule: first.rule,
        version: first.version,
        findings: issues.map((i) => `${i.field || '(top level)'}: ${i.rule}`),
        registryMessage,
      },
      cause,
    },
  );
}

/**
 * Finds why `schema` is incompatible with `subject`: reads the subject's level and the versions
 * it must be checked against, and runs the checker. Empty when the checker finds nothing.
 */
export async function explainIncompatibility(
  client: RegistryClient,
  subject: string,
  schema: AvroSchema | string,
): Promise<{ level: CompatibilityLevel; issues: Incompatibility[] }> {
  const level = (await client.compatibilityLevel(subject)) ?? 'BACKWARD';
  let previous: SubjectVersion[];
  if (level.endsWith('_TRANSITIVE')) previous = await client.versions(subject);
  else {
    const latest = await client.version(subject, 'latest');
    previous = latest ? [latest] : [];
  }
  return { level, issues: checkCompatibility(schema, previous, level) };
}

/**
 * Registers `schema` under `subject` and returns its id. A compatible evolution (e.g. a new
 * nullable field with a default) becomes a new version; an incompatible one throws
 * `SCHEMA_INCOMPATIBLE` naming the subject, the field and the rule.
 */
export async function registerSchema(
  client: RegistryClient,
  subject: string,
  schema: AvroSchema | string,
  logger: Logger = noopLogger,
): Promise<number> {
  try {
    return await client.register(subject, schema);
  } catch (err) {
    if (!isCdcError(err, 'SCHEMA_INCOMPATIBLE')) throw err;
    const registryMessage = (err.cause as { message?: string } | undefined)?.message?.replace(
      /^[\w-]+ - /,
      '',
    );
    let explained: { level: CompatibilityLevel | string; issues: Incompatibility[] } = {
      level: 'unknown',
      issues: [],
    };
    try {
      explained = await explainIncompatibility(client, subject, schema);
    } catch (explainErr) {
      logger.warn('could not explain an incompatible schema; reporting the registry message', {
        subject,
        err: explainErr,
      });
    }
    const error = incompatibleSchemaError(subject, explained.level, explained.issues, registryMessage, err);
    logger.error('incompatible schema change', { err: error });
    throw error;
  }
}

/**
 * What a capture does when a table's new schema is incompatible with its subject:
 * `stop` — stop loudly, naming the table, the column, the change and the fix (the default);
 * `recreate` — register the new schema under the same subject anyway (the subject's
 *   compatibility is set to NONE for that one registration and restored), so the table keeps
 *   its topic and its ClickHouse name; the capture then has the whole table read again (a
 *   resync), and a sink with `onIncompatibleSchema: recreate` moves the old table aside as
 *   `<t>__before_<schema id>` and fills a new `<t>` from the new records;
 * `new-topic-version` — publish from now on to `<topic>.v<N+1>` under fresh subjects (a second
 *   ClickHouse table: kept only for pipelines that chose it explicitly).
 * There is deliberately no "skip": an incompatible change is never dropped silently.
 */
export const EVOLUTION_POLICIES = ['stop', 'recreate', 'new-topic-version'] as const;
export type EvolutionPolicy = (typeof EVOLUTION_POLICIES)[number];

export type EvolutionAction =
  | { action: 'stop'; error: CdcError }
  | { action: 'recreate'; reason: string }
  | {
      action: 'new-topic-version';
      /** The topic to write to from now on. */
      topic: string;
      version: number;
      keySubject: string;
      valueSubject: string;
      /** Why, for the log line and the operator. */
      reason: string;
    };

/** `orders` → `orders.v2`, `orders.v2` → `orders.v3`. */
export function nextTopicVersion(topic: string): { topic: string; version: number } {
  const m = /^(.*)\.v(\d+)$/.exec(topic);
  const base = m ? (m[1] as string) : topic;
  const version = m ? Number(m[2]) + 1 : 2;
  return { topic: `${base}.v${version}`, version };
}

/**
 * The action for `policy` given the `SCHEMA_INCOMPATIBLE` error that `registerSchema` threw;
 * `table` is the source table (or collection) and names it in the messages.
 */
export function onIncompatibleSchema(
  policy: EvolutionPolicy,
  incident: { topic: string; error: CdcError; table?: string },
): EvolutionAction {
  const table = incident.table ?? incident.topic;
  const field = incident.error.context.field;
  const column = typeof field === 'string' && field ? field.replace(/^(after|before)\./, '') : undefined;
  const where = column ? `table ${table}, column ${column}` : `table ${table}`;
  if (policy === 'stop') {
    return {
      action: 'stop',
      error: new CdcError(
        'SCHEMA_INCOMPATIBLE',
        `${where}: an incompatible schema change. ${incident.error.message} The capture stops here (schemaEvolution: stop) and resumes from this change once fixed: revert the change at the source (e.g. ALTER TABLE back to the old type), or set schemaEvolution: recreate (and clickhouse.sink.onIncompatibleSchema: recreate) to rebuild the table under the same name, then restart the capture.`,
        {
          context: { ...incident.error.context, topic: incident.topic, table, column },
          cause: incident.error,
        },
      ),
    };
  }
  if (policy === 'recreate')
    return {
      action: 'recreate',
      reason: `${where}: an incompatible schema change. ${incident.error.message} Registered under the same subject anyway (schemaEvolution: recreate); the table is read again so that its topic holds every row in the new schema.`,
    };
  const next = nextTopicVersion(incident.topic);
  return {
    action: 'new-topic-version',
    topic: next.topic,
    version: next.version,
    keySubject: `${next.topic}-key`,
    valueSubject: `${next.topic}-value`,
    reason: `${incident.error.message} Continuing on topic ${next.topic} (schemaEvolution: new-topic-version); consumers of ${incident.topic} must switch to it.`,
  };
}

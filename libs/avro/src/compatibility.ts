/**
 * A pure Avro schema compatibility checker with the registry's levels (BACKWARD, FORWARD,
 * FULL and their _TRANSITIVE variants), following the Avro schema resolution rules. It names
 * the offending field and the rule it breaks, which the registry's 409 does not, so that an
 * incompatible change can be reported as "subject X, field Y: field added without a default".
 *
 * BACKWARD: the new schema can read data written with the previous one (consumers upgrade
 * first). FORWARD: the previous schema can read data written with the new one (producers
 * upgrade first). FULL: both. _TRANSITIVE: against every earlier version, not only the latest.
 */
import type { AvroType } from './parse-schema.ts';
import { parseSchema } from './parse-schema.ts';
import type { CompatibilityLevel } from './registry-client.ts';
import type { AvroSchema } from './schema-types.ts';

export const COMPATIBILITY_RULES = [
  'field-added-without-default',
  'field-removed-without-default',
  'type-changed',
  'enum-symbol-removed',
  'enum-symbol-added',
  'union-branch-removed',
  'union-branch-added',
  'name-changed',
  'fixed-size-changed',
] as const;
export type CompatibilityRule = (typeof COMPATIBILITY_RULES)[number];

export interface Incompatibility {
  /** Dotted path of the field (`after.amount`; array items as `items[]`, map values as `m{}`); '' for the top level. */
  field: string;
  rule: CompatibilityRule;
  /** `backward`: the new schema cannot read old data; `forward`: the old schema cannot read new data. */
  direction: 'backward' | 'forward';
  /** The registered version the candidate conflicts with, when known. */
  version?: number;
  /** One sentence: what changed and why it breaks readers. */
  detail: string;
}

export interface PreviousVersion {
  version?: number;
  schema: AvroSchema | string | AvroType;
}

/** What to do about each rule, for error messages. */
export const RULE_FIXES: Record<CompatibilityRule, string> = {
  'field-added-without-default':
    'give the new field a default (a nullable field: type ["null", T] with default null)',
  'field-removed-without-default': 'keep the field, or first register a version where it has a default',
  'type-changed':
    'keep the type (allowed promotions: int→long→float→double, string↔bytes) or add a new field with the new type',
  'enum-symbol-removed': 'keep the symbol, or give the enum a default symbol',
  'enum-symbol-added':
    'first register a version whose enum has a default symbol, or relax the compatibility level',
  'union-branch-removed': 'keep the branch (e.g. keep the field nullable)',
  'union-branch-added': 'relax the compatibility level, or add a new field instead',
  'name-changed': 'keep the name, or list the previous name in "aliases"',
  'fixed-size-changed': 'keep the size, or add a new field with the new size',
};

const PROMOTIONS: Record<string, readonly string[]> = {
  int: ['long', 'float', 'double'],
  long: ['float', 'double'],
  float: ['double'],
  string: ['bytes'],
  bytes: ['string'],
};

const NAMED = new Set(['record', 'error', 'enum', 'fixed']);

interface AvscField {
  name: string;
  type: AvroType;
  aliases?: string[];
  defaultValue(): unknown;
}
interface AvscType {
  typeName: string;
  name?: string;
  aliases?: string[];
  fields?: AvscField[];
  symbols?: string[];
  default?: string;
  size?: number;
  itemsType?: AvroType;
  valuesType?: AvroType;
  types?: AvroType[];
}

const view = (t: AvroType) => t as unknown as AvscType;

function kind(t: AvroType): string {
  const n = view(t).typeName;
  if (n === 'abstract:long') return 'long';
  if (n.startsWith('union')) return 'union';
  if (n === 'error') return 'record';
  return n;
}

const shortName = (full: string | undefined) => (full ?? '').slice((full ?? '').lastIndexOf('.') + 1);

/** How a type reads in a message: `int`, `record Order`, `["null", string]`. */
function describe(t: AvroType): string {
  const k = kind(t);
  const v = view(t);
  if (k === 'union') return `[${(v.types ?? []).map(describe).join(', ')}]`;
  if (NAMED.has(k)) return `${k} ${shortName(v.name)}`;
  if (k === 'array') return `array<${describe(v.itemsType as AvroType)}>`;
  if (k === 'map') return `map<${describe(v.valuesType as AvroType)}>`;
  return k;
}

function namesMatch(reader: AvroType, writer: AvroType): boolean {
  const r = view(reader);
  const w = shortName(view(writer).name);
  return shortName(r.name) === w || (r.aliases ?? []).some((a) => shortName(a) === w);
}

/** Whether `reader` is the branch Avro would pick for `writer` (same kind and name, or a promotion). */
function branchMatches(reader: AvroType, writer: AvroType): boolean {
  const rk = kind(reader);
  const wk = kind(writer);
  if (rk === wk) return NAMED.has(rk) ? namesMatch(reader, writer) : true;
  return PROMOTIONS[wk]?.includes(rk) ?? false;
}

interface Walk {
  direction: 'backward' | 'forward';
  version: number | undefined;
  out: Incompatibility[];
  seen: Set<string>;
}

const join = (path: string, name: string) => (path ? `${path}.${name}` : name);

function add(w: Walk, field: string, rule: CompatibilityRule, detail: string): void {
  w.out.push({
    field,
    rule,
    direction: w.direction,
    ...(w.version === undefined ? {} : { version: w.version }),
    detail,
  });
}

/** Records every way in which `reader` cannot read data written with `writer`. */
function walk(reader: AvroType, writer: AvroType, path: string, w: Walk): void {
  const rk = kind(reader);
  const wk = kind(writer);
  // Old and new, as the user thinks of them (backward: reader is new; forward: reader is old).
  const [oldT, newT] = w.direction === 'backward' ? [writer, reader] : [reader, writer];

  if (wk === 'union') {
    const readerBranches = rk === 'union' ? (view(reader).types ?? []) : [reader];
    for (const branch of view(writer).types ?? []) {
      const match = readerBranches.find((r) => branchMatches(r, branch));
      if (match) walk(match, branch, path, w);
      else if (rk !== 'union' && kind(branch) !== 'null') {
        add(
          w,
          path,
          'type-changed',
          `type changed from ${describe(oldT)} to ${describe(newT)}, which is not a promotion`,
        );
      } else {
        const rule = w.direction === 'backward' ? 'union-branch-removed' : 'union-branch-added';
        const detail =
          w.direction === 'backward'
            ? `the branch ${describe(branch)} of ${describe(oldT)} is gone in ${describe(newT)}: old records holding it cannot be read`
            : `the new branch ${describe(branch)} in ${describe(newT)} is unknown to ${describe(oldT)}: consumers on the old schema cannot read it`;
        add(w, path, rule, detail);
      }
    }
    return;
  }
  if (rk === 'union') {
    const match = (view(reader).types ?? []).find((r) => branchMatches(r, writer));
    if (match) walk(match, writer, path, w);
    else
      add(
        w,
        path,
        'type-changed',
        `type changed from ${describe(oldT)} to ${describe(newT)}, which is not a promotion`,
      );
    return;
  }
  if (rk !== wk) {
    if (!(PROMOTIONS[wk]?.includes(rk) ?? false)) {
      add(
        w,
        path,
        'type-changed',
        `type changed from ${describe(oldT)} to ${describe(newT)}, which is not a promotion`,
      );
    }
    return;
  }
  if (NAMED.has(rk) && !namesMatch(reader, writer)) {
    add(
      w,
      path,
      'name-changed',
      `${rk} renamed from ${shortName(view(oldT).name)} to ${shortName(view(newT).name)}`,
    );
    return;
  }
  switch (rk) {
    case 'record': {
      const key = `${view(reader).name}|${view(writer).name}`;
      if (w.seen.has(key)) return; // a recursive type, already being checked
      w.seen.add(key);
      const writerFields = new Map((view(writer).fields ?? []).map((f) => [f.name, f]));
      for (const field of view(reader).fields ?? []) {
        const wf =
          writerFields.get(field.name) ?? (field.aliases ?? []).map((a) => writerFields.get(a)).find(Boolean);
        const fieldPath = join(path, field.name);
        if (wf) walk(field.type, wf.type, fieldPath, w);
        else if (field.defaultValue() === undefined) {
          if (w.direction === 'backward') {
            add(
              w,
              fieldPath,
              'field-added-without-default',
              `field ${fieldPath} was added without a default: records written with the old schema have no value for it`,
            );
          } else {
            add(
              w,
              fieldPath,
              'field-removed-without-default',
              `field ${fieldPath} was removed, and the old schema has no default for it: consumers on the old schema cannot read new records`,
            );
          }
        }
      }
      return;
    }
    case 'enum': {
      const r = view(reader);
      if (r.default !== undefined) return;
      const known = new Set(r.symbols ?? []);
      for (const symbol of view(writer).symbols ?? []) {
        if (known.has(symbol)) continue;
        if (w.direction === 'backward') {
          add(
            w,
            path,
            'enum-symbol-removed',
            `enum ${shortName(r.name)} lost the symbol ${symbol}, which old records may hold`,
          );
        } else {
          add(
            w,
            path,
            'enum-symbol-added',
            `enum ${shortName(r.name)} gained the symbol ${symbol}, which consumers on the old schema cannot read`,
          );
        }
      }
      return;
    }
    case 'fixed':
      if (view(reader).size !== view(writer).size) {
        add(
          w,
          path,
          'fixed-size-changed',
          `fixed ${shortName(view(reader).name)} changed size from ${view(oldT).size} to ${view(newT).size} bytes`,
        );
      }
      return;
    case 'array':
      walk(view(reader).itemsType as AvroType, view(writer).itemsType as AvroType, `${path}[]`, w);
      return;
    case 'map':
      walk(view(reader).valuesType as AvroType, view(writer).valuesType as AvroType, `${path}{}`, w);
      return;
    default:
      return; // the same primitive
  }
}

function toType(schema: AvroSchema | string | AvroType): AvroType {
  return typeof schema === 'object' &&
    schema !== null &&
    typeof (schema as { toBuffer?: unknown }).toBuffer === 'function'
    ? (schema as AvroType)
    : parseSchema(schema as AvroSchema | string);
}

/** Every way in which `reader` cannot read data written with `writer`, in one direction. */
export function readIssues(
  reader: AvroSchema | string | AvroType,
  writer: AvroSchema | string | AvroType,
  direction: 'backward' | 'forward',
  version?: number,
): Incompatibility[] {
  const w: Walk = { direction, version, out: [], seen: new Set() };
  walk(toType(reader), toType(writer), '', w);
  return w.out;
}

/**
 * The incompatibilities of `candidate` with the registered `previous` versions (oldest first)
 * under `level`: empty when the registry should accept it.
 */
export function checkCompatibility(
  candidate: AvroSchema | string | AvroType,
  previous: readonly PreviousVersion[],
  level: CompatibilityLevel,
): Incompatibility[] {
  if (level === 'NONE' || previous.length === 0) return [];
  const transitive = level.endsWith('_TRANSITIVE');
  const base = level.replace('_TRANSITIVE', '');
  const against = transitive ? previous : previous.slice(-1);
  const next = toType(candidate);
  const out: Incompatibility[] = [];
  for (const p of against) {
    const old = toType(p.schema);
    if (base === 'BACKWARD' || base === 'FULL') out.push(...readIssues(next, old, 'backward', p.version));
    if (base === 'FORWARD' || base === 'FULL') out.push(...readIssues(old, next, 'forward', p.version));
  }
  return out;
}

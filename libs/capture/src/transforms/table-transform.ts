/**
 * A table's transforms and quality rules from the pipeline file, compiled once per table
 * description (at start and on every schema change) against the table's real columns:
 *
 * - `keep(row)`: the filter (true when there is none);
 * - `check(row)`: the broken quality rules, on the source row;
 * - `project(row)`: exclude, rename, mask, computed → the row as written;
 * - `row` / `keyFields`: the Avro schema of the projected row (what the registry gets).
 *
 * A reference to a column the table does not have is `CONFIG_INVALID` naming the key, the
 * column, the closest existing one and the fix. Rows are Avro row values keyed by field name;
 * expressions name source columns (or, for documents, dotted field paths).
 */
import { createHmac } from 'node:crypto';
import type { AvroField, AvroRecordSchema, AvroSchema } from '@cdc/avro';
import { CdcError, closestKey } from '@cdc/core';
import {
  columnsOf,
  durationMs,
  type Expr,
  evaluate,
  type Mask,
  parseExpression,
  passes,
  type TableTransform,
  transformFor,
} from '@cdc/pipeline';
import { compileRule, ruleName, type ValueReading, type Violation } from './rules.ts';

export { transformFor, type Violation };

const TABLE_VALUES: ValueReading = {
  text: (v) => valueText(v),
  number: (v) => (typeof v === 'bigint' ? Number(v) : Number(v)),
};

/** A source column: its name in the source and its field in the Avro row. */
export interface SourceColumn {
  name: string;
  field: string;
  isKey: boolean;
}

export interface CompiledTransform {
  /** `schema.table` / `db.collection`. */
  table: string;
  /** False when nothing is configured: callers may skip the calls. */
  active: boolean;
  hasFilter: boolean;
  keep(row: Record<string, unknown>): boolean;
  /**
   * `key`: the row's key as text, when asked (`unique_within` tells rows apart by it); `nowMs`:
   * capture time, from the capture's `Clock` (`RowGate`).
   */
  check(row: Record<string, unknown>, key: () => string, nowMs: number): Violation[];
  project(row: Record<string, unknown>): Record<string, unknown>;
  /** Table-level `freshness` rules (watched by `RowGate`). */
  freshness: { name: string; maxAgeMs: number }[];
  row: AvroRecordSchema;
  keyFields: AvroField[];
  /** Rule names, for metrics. */
  rules: string[];
  /** The filter as parsed (for rendering elsewhere). */
  filter: Expr | null;
  /** Source columns whose values never leave the capture as they are (excluded or masked). */
  hidden: ReadonlySet<string>;
}

export interface CompileOptions {
  /** The pipeline-file location of the table's entry, for errors (`sources.postgres[shop].tables`). */
  where: string;
  /** The `hash` mask's salt (a secret: never logged). */
  maskSalt?: string | undefined;
  /**
   * `columns`: expressions name columns (PostgreSQL); `paths`: dotted paths into the row
   * (MongoDB documents), checked only on their first segment.
   */
  naming?: 'columns' | 'paths';
}

export function compileTableTransform(
  table: string,
  entry: { key: string; transform: TableTransform } | null,
  row: AvroRecordSchema,
  keyFields: AvroField[],
  columns: SourceColumn[],
  options: CompileOptions,
): CompiledTransform {
  const identity: CompiledTransform = {
    table,
    active: false,
    hasFilter: false,
    keep: () => true,
    check: () => [],
    project: (r) => r,
    freshness: [],
    row,
    keyFields,
    rules: [],
    filter: null,
    hidden: new Set(),
  };
  if (!entry) return identity;
  const { key, transform: t } = entry;
  const at = `${options.where}.${key}`;
  const byName = new Map(columns.map((c) => [c.name, c]));
  // Rules and expressions read a decimal column as its decimal text, not its Avro bytes.
  const plainOf = new Map(row.fields.map((f) => [f.name, plainReader(f)]));
  const plain = (field: string, v: unknown): unknown => {
    const read = plainOf.get(field);
    return read ? read(v) : v;
  };
  const paths = options.naming === 'paths';
  // The default entry ("*") applies what fits a table: a column it names that the table lacks is skipped there.
  const lenient = key === '*';
  const resolve = (column: string, keyPath: string): SourceColumn | null => {
    const head = paths ? (column.split('.')[0] as string) : column;
    const c = byName.get(head);
    if (c) return c;
    if (lenient) return null;
    const near = closestKey(head, [...byName.keys()]);
    throw new CdcError(
      'CONFIG_INVALID',
      `${at}.${keyPath}: ${table} has no column ${JSON.stringify(head)}${near ? `; did you mean ${near}?` : ''} Its columns are ${[...byName.keys()].join(', ')}. Fix the name in the pipeline file and restart the capture`,
      { context: { configKey: `${at}.${keyPath}`, table, column: head } },
    );
  };
  const readerOf =
    (r: Record<string, unknown>) =>
    (path: string): unknown => {
      if (!paths) {
        const c = byName.get(path);
        return c ? plain(c.field, r[c.field]) : undefined;
      }
      const parts = path.split('.');
      const c = byName.get(parts[0] as string);
      let v: unknown = c ? plain(c.field, r[c.field]) : undefined;
      for (const p of parts.slice(1)) {
        if (typeof v === 'string' && v.startsWith('{')) v = safeJson(v);
        v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
      }
      return v;
    };
  const expression = (src: string, keyPath: string): Expr | null => {
    const e = parseExpression(src);
    for (const col of columnsOf(e)) if (resolve(col, keyPath) === null) return null;
    return e;
  };

  const filter = t.filter === undefined ? null : expression(t.filter, 'filter');

  const rules = t.quality.flatMap((rule, i) => {
    if (rule.rule === 'freshness') return [];
    const c = resolve(rule.column, `quality[${i}].column`);
    return c ? [{ field: c.field, rule: compileRule(rule, TABLE_VALUES) }] : [];
  });
  const freshness = t.quality.flatMap((r) =>
    r.rule === 'freshness' ? [{ name: ruleName(r), maxAgeMs: durationMs(r.maxAge) }] : [],
  );

  const excluded = new Set<string>();
  for (const [i, name] of t.columns.exclude.entries()) {
    const c = resolve(name, `columns.exclude[${i}]`);
    if (!c) continue;
    if (c.isKey) throw keyColumn(at, `columns.exclude[${i}]`, table, name, 'excluded');
    excluded.add(c.field);
  }
  const renamed = new Map<string, string>();
  for (const [name, to] of Object.entries(t.columns.rename)) {
    const c = resolve(name, `columns.rename.${name}`);
    if (!c) continue;
    if (c.isKey) throw keyColumn(at, `columns.rename.${name}`, table, name, 'renamed');
    renamed.set(c.field, to);
  }
  const fieldType = new Map(row.fields.map((f) => [f.name, f]));
  const masks = new Map<string, (v: unknown) => unknown>();
  const truncated = new Set<string>();
  for (const [name, mask] of Object.entries(t.columns.mask)) {
    const c = resolve(name, `columns.mask.${name}`);
    if (!c) continue;
    if (c.isKey) throw keyColumn(at, `columns.mask.${name}`, table, name, 'masked');
    if (typeof mask === 'object' && baseType((fieldType.get(c.field) as AvroField).type) !== 'string')
      throw new CdcError(
        'CONFIG_INVALID',
        `${at}.columns.mask.${name}: truncate applies to text columns only; ${name} is not text. Use hash or redact`,
        { context: { configKey: `${at}.columns.mask.${name}`, table, column: name } },
      );
    masks.set(c.field, maskFunction(mask, options.maskSalt));
    if (typeof mask === 'object') truncated.add(c.field);
  }
  const computed: { name: string; expr: Expr; type: AvroSchema }[] = [];
  for (const [name, src] of Object.entries(t.columns.computed)) {
    const e = expression(src, `columns.computed.${name}`);
    if (!e) continue;
    const leaks = columnsOf(e).filter((c) => {
      const col = byName.get(c);
      return col !== undefined && (excluded.has(col.field) || masks.has(col.field));
    });
    if (leaks.length > 0) throw computedLeak(`${at}.columns.computed.${name}`, table, name, leaks);
    computed.push({ name, expr: e, type: inferType(e, byName, fieldType) });
  }

  const outFields: AvroField[] = [];
  for (const f of row.fields) {
    if (excluded.has(f.name)) continue;
    let out: AvroField = f;
    const mask = masks.get(f.name);
    if (mask && truncated.has(f.name)) out = { ...f, 'cdc.masked': true };
    else if (mask) {
      const nullable = Array.isArray(f.type) && f.type.includes('null');
      const { 'cdc.type': _t, ...attrs } = f;
      out = nullable
        ? { ...attrs, type: ['null', 'string'], default: null, 'cdc.masked': true }
        : { ...attrs, type: 'string', 'cdc.masked': true };
    }
    const to = renamed.get(f.name);
    if (to) {
      const { 'cdc.column': _c, ...attrs } = out;
      out = { ...attrs, name: to };
    }
    outFields.push(out);
  }
  for (const c of computed)
    outFields.push({ name: c.name, type: ['null', c.type], default: null, 'cdc.computed': true });
  const seen = new Set<string>();
  for (const f of outFields) {
    if (seen.has(f.name))
      throw new CdcError(
        'CONFIG_INVALID',
        `${at}.columns: two output columns of ${table} are named ${f.name}; choose another name in rename or computed`,
        { context: { configKey: `${at}.columns`, table, column: f.name } },
      );
    seen.add(f.name);
  }

  const changesShape = excluded.size + renamed.size + masks.size + computed.length > 0;
  const project = !changesShape
    ? (r: Record<string, unknown>) => r
    : (r: Record<string, unknown>) => {
        const out: Record<string, unknown> = Object.create(null); // a column named `__proto__` stays a column
        for (const f of row.fields) {
          if (excluded.has(f.name)) continue;
          const mask = masks.get(f.name);
          const v = r[f.name];
          out[renamed.get(f.name) ?? f.name] = mask && v !== null && v !== undefined ? mask(v) : v;
        }
        if (computed.length > 0) {
          const get = readerOf(r);
          for (const c of computed) out[c.name] = computedValue(c.expr, c.type, get);
        }
        return out;
      };

  return {
    table,
    active: filter !== null || rules.length > 0 || freshness.length > 0 || changesShape,
    hasFilter: filter !== null,
    keep: filter ? (r) => passes(filter, readerOf(r)) : () => true,
    check:
      rules.length === 0
        ? () => []
        : (r, key, nowMs) => {
            const out: Violation[] = [];
            for (const { field, rule } of rules) {
              const v = rule.check(plain(field, r[field]), key, nowMs);
              if (v) out.push(v);
            }
            return out;
          },
    project,
    freshness,
    row: changesShape ? { ...row, fields: outFields } : row,
    keyFields,
    rules: [...rules.map((r) => r.rule.name), ...freshness.map((f) => f.name)],
    filter,
    hidden: new Set(columns.filter((c) => excluded.has(c.field) || masks.has(c.field)).map((c) => c.name)),
  };
}

/** A computed column that reads an excluded or masked one would carry its value out unmasked. */
export function computedLeak(configKey: string, table: string, name: string, columns: string[]): CdcError {
  return new CdcError(
    'CONFIG_INVALID',
    `${configKey}: computed column ${name} reads ${columns.join(', ')}, which ${columns.length > 1 ? 'are' : 'is'} excluded or masked: its value would leave the database unmasked. Compute it from other columns, or mask ${name} too`,
    { context: { configKey, table, column: columns.join(', ') } },
  );
}

function keyColumn(at: string, keyPath: string, table: string, column: string, what: string): CdcError {
  return new CdcError(
    'CONFIG_INVALID',
    `${at}.${keyPath}: ${column} is part of the primary key of ${table}, which identifies the row downstream, so it cannot be ${what}. Remove it from ${keyPath.split(/[.[]/)[1]}`,
    { context: { configKey: `${at}.${keyPath}`, table, column } },
  );
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** How rules and expressions read a field's values: a decimal's bytes become its decimal text. */
function plainReader(field: AvroField): ((v: unknown) => unknown) | undefined {
  const t = Array.isArray(field.type) ? field.type.find((x) => x !== 'null') : field.type;
  if (typeof t !== 'object' || t === null || (t as { logicalType?: string }).logicalType !== 'decimal')
    return undefined;
  const scale = (t as { scale?: number }).scale ?? 0;
  return (v) => (v instanceof Uint8Array ? decimalText(v, scale) : v);
}

/** An Avro decimal (big-endian two's complement unscaled value) as decimal text. */
export function decimalText(bytes: Uint8Array, scale: number): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  if (bytes.length > 0 && ((bytes[0] as number) & 0x80) !== 0) n -= 1n << BigInt(8 * bytes.length);
  const negative = n < 0n;
  let digits = (negative ? -n : n).toString();
  if (scale <= 0) digits = n === 0n ? '0' : digits + '0'.repeat(-scale);
  else {
    digits = digits.padStart(scale + 1, '0');
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

function baseType(t: AvroSchema): string {
  const one = Array.isArray(t) ? (t.find((x) => x !== 'null') as AvroSchema) : t;
  return typeof one === 'string' ? one : (one as { type: string }).type;
}

const REDACTED = '***';

/** The mask of a column: hash (HMAC-SHA-256 of the value's text, hex), redact or truncate. */
export function maskFunction(mask: Mask, salt: string | undefined): (v: unknown) => unknown {
  if (mask === 'redact') return () => REDACTED;
  if (mask === 'hash') {
    if (salt === undefined)
      throw new CdcError('CONFIG_INVALID', 'a hash mask needs maskSalt', { context: {} });
    return hmacHex(salt, valueText);
  }
  const n = mask.truncate;
  return (v) => (typeof v === 'string' ? [...v].slice(0, n).join('') : v);
}

/** HMAC-SHA-256 of each value's text with `salt`, as hex (measured faster than copying precomputed keyed states). */
export function hmacHex(salt: string, text: (v: unknown) => string): (v: unknown) => string {
  return (v) => createHmac('sha256', salt).update(text(v)).digest('hex');
}

/** A value's text for hashing: text as is, numbers and bigints in decimal, bytes as UTF-8. */
function valueText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (typeof v === 'object' && v !== null)
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));
  return String(v);
}

function inferType(e: Expr, byName: Map<string, SourceColumn>, fields: Map<string, AvroField>): AvroSchema {
  switch (e.kind) {
    case 'lit':
      return typeof e.value === 'number' ? 'double' : typeof e.value === 'boolean' ? 'boolean' : 'string';
    case 'col': {
      const c = byName.get(e.path.split('.')[0] as string);
      const f = c ? fields.get(c.field) : undefined;
      const t = f && !e.path.includes('.') ? baseType(f.type) : 'string';
      return ['boolean', 'int', 'long', 'float', 'double', 'string'].includes(t)
        ? (t as AvroSchema)
        : 'string';
    }
    case 'arith':
      return e.op === '||' ? 'string' : 'double';
    case 'neg':
      return 'double';
    case 'call':
      if (e.fn === 'length') return 'long';
      if (e.fn === 'coalesce') return inferType(e.args[0] as Expr, byName, fields);
      return 'string';
    default:
      return 'boolean';
  }
}

function computedValue(e: Expr, type: AvroSchema, get: (p: string) => unknown): unknown {
  const v = evaluate(e, get);
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'boolean':
      return typeof v === 'boolean' ? v : Boolean(v);
    case 'int':
    case 'long':
      return typeof v === 'bigint' ? Number(v) : Math.trunc(Number(v));
    case 'float':
    case 'double':
      return Number.isFinite(Number(v)) ? Number(v) : null;
    default:
      return typeof v === 'string' ? v : valueText(v);
  }
}

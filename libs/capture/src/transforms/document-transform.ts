/**
 * A collection's transforms for documents (MongoDB): the same pipeline-file entry as a table's,
 * applied to the BSON document before the capture infers its Avro schema, so the inferred
 * schema is the projected one. Names are dotted field paths (`address.city`); a document has no
 * fixed columns, so a path that no document has is simply null (nothing to check at start).
 *
 * - `exclude` removes the field at the path; `rename` moves it (to a top-level name);
 * - `mask` replaces the value at the path (hash of its canonical text, `***`, first n characters);
 * - `computed` adds a top-level field from an expression over paths.
 */
import {
  columnsOf,
  durationMs,
  type Expr,
  evaluate,
  type Mask,
  parseExpression,
  passes,
  type TableTransform,
} from '@cdc/pipeline';
import type { GateTransform } from './row-gate.ts';
import { compileRule, ruleName, type ValueReading, type Violation } from './rules.ts';
import { computedLeak, hmacHex } from './table-transform.ts';

const DOCUMENT_VALUES: ValueReading = { text: (v) => canonicalText(v), number: (v) => Number(plain(v)) };

type Doc = Record<string, unknown>;

/** The value at a dotted path (undefined when any step is missing). */
export function valueAt(doc: unknown, path: string): unknown {
  let v: unknown = doc;
  for (const p of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Doc)[p];
  }
  return v;
}

/** A BSON value as plain data for expressions and rules: Long/Int32/Double → number, Decimal128/ObjectId → text. */
function plain(v: unknown): unknown {
  if (v === null || v === undefined || typeof v !== 'object') return v;
  if (v instanceof Date) return v.getTime();
  const bsontype = (v as { _bsontype?: string })._bsontype;
  if (bsontype === 'Long' || bsontype === 'Int32' || bsontype === 'Double')
    return Number((v as { valueOf(): unknown }).valueOf?.() ?? String(v));
  if (bsontype === 'Decimal128' || bsontype === 'ObjectId' || bsontype === 'UUID') return String(v);
  return v;
}

function canonicalText(v: unknown): string {
  const p = plain(v);
  if (typeof p === 'string') return p;
  if (typeof p === 'object' && p !== null) return JSON.stringify(p);
  return String(p);
}

function maskOf(mask: Mask, salt: string | undefined): (v: unknown) => unknown {
  if (mask === 'redact') return () => '***';
  if (mask === 'hash') return hmacHex(salt ?? '', canonicalText);
  return (v) => (typeof v === 'string' ? [...v].slice(0, mask.truncate).join('') : v);
}

/** A copy of `doc` with the value at `path` replaced (`undefined`: removed); shares untouched branches. */
function withAt(doc: Doc, parts: string[], value: unknown): Doc {
  const [head, ...rest] = parts as [string, ...string[]];
  if (!(head in doc)) return doc;
  const out: Doc = { ...doc };
  if (rest.length === 0) {
    if (value === undefined) delete out[head];
    else out[head] = value;
    return out;
  }
  const child = doc[head];
  if (
    child === null ||
    typeof child !== 'object' ||
    Array.isArray(child) ||
    (child as { _bsontype?: string })._bsontype
  )
    return doc;
  out[head] = withAt(child as Doc, rest, value);
  return out;
}

export function compileDocumentTransform(
  ns: string,
  entry: { key: string; transform: TableTransform } | null,
  options: { maskSalt?: string | undefined; where?: string },
): GateTransform & { rules: string[] } {
  const identity = {
    table: ns,
    active: false,
    keep: () => true,
    check: () => [],
    project: (d: Doc) => d,
    freshness: [],
    hidden: new Set<string>(),
    rules: [],
  };
  if (!entry) return identity;
  const t = entry.transform;
  const read = (d: Doc) => (path: string) => plain(valueAt(d, path));
  const filter: Expr | null = t.filter === undefined ? null : parseExpression(t.filter);
  const rules = t.quality.flatMap((r) => (r.rule === 'freshness' ? [] : [compileRule(r, DOCUMENT_VALUES)]));
  const freshness = t.quality.flatMap((r) =>
    r.rule === 'freshness' ? [{ name: ruleName(r), maxAgeMs: durationMs(r.maxAge) }] : [],
  );
  const masks = Object.entries(t.columns.mask).map(
    ([path, m]) => [path.split('.'), maskOf(m, options.maskSalt)] as const,
  );
  const exclude = t.columns.exclude.map((p) => p.split('.'));
  const renames = Object.entries(t.columns.rename).map(([from, to]) => [from, to] as const);
  const hiddenPaths = [...t.columns.exclude, ...Object.keys(t.columns.mask)];
  const computed = Object.entries(t.columns.computed).map(([name, src]) => {
    const e = parseExpression(src);
    const leaks = columnsOf(e).filter((p) =>
      hiddenPaths.some((h) => p === h || p.startsWith(`${h}.`) || h.startsWith(`${p}.`)),
    );
    if (leaks.length > 0)
      throw computedLeak(
        `${options.where ?? 'tables'}.${entry.key}.columns.computed.${name}`,
        ns,
        name,
        leaks,
      );
    return [name, e] as const;
  });
  return {
    table: ns,
    active: true,
    keep: filter ? (d) => passes(filter, read(d)) : () => true,
    check: (d, key, nowMs) => {
      const out: Violation[] = [];
      for (const r of rules) {
        const v = r.check(plain(valueAt(d, r.column)), key, nowMs);
        if (v) out.push(v);
      }
      return out;
    },
    freshness,
    project: (d) => {
      let out = d;
      const values = read(d);
      for (const [path, mask] of masks) {
        const v = valueAt(out, path.join('.'));
        if (v !== undefined && v !== null) out = withAt(out, path, mask(v));
      }
      for (const [from, to] of renames) {
        const v = valueAt(out, from);
        if (v === undefined) continue;
        out = withAt(out, from.split('.'), undefined);
        out = { ...out, [to]: v };
      }
      for (const path of exclude) out = withAt(out, path, undefined);
      if (computed.length > 0) {
        out = { ...out };
        for (const [name, e] of computed) {
          const v = evaluate(e, values);
          out[name] = v === undefined ? null : v;
        }
      }
      return out;
    },
    hidden: new Set([...t.columns.exclude, ...Object.keys(t.columns.mask)]),
    rules: [...rules.map((r) => r.name), ...freshness.map((f) => f.name)],
  };
}

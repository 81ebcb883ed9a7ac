/**
 * `cdc verify` on a table with transforms in the pipeline file: the source side is read as the
 * capture writes it, so a filtered, masked replica still verifies.
 *
 * - `filter` → a SQL `WHERE` (the expression language renders to PostgreSQL);
 * - excluded columns are not compared; a renamed column is compared with its ClickHouse name;
 * - a masked text column is compared through the same mask (HMAC-SHA-256 with the salt, `***`,
 *   the first n characters), applied to the source's values here; a masked column of another
 *   type is skipped, and the report says so; computed columns are not compared.
 */
import { createHmac } from 'node:crypto';
import {
  columnsOf,
  type PostgresSource,
  parseExpression,
  quoteIdent,
  toPostgresSql,
  transformFor,
} from '@cdc/pipeline';
import type { SourceTable } from './postgres-side.ts';

const TEXT_KINDS = new Set(['text']);

export function applyTransforms(t: SourceTable, source: PostgresSource): SourceTable {
  const entry = transformFor(source.tables, `${t.schema}.${t.table}`);
  if (!entry) return t;
  const tr = entry.transform;
  const names = new Set(t.columns.map((c) => c.name));
  const notes: string[] = [];
  const excluded = new Set(tr.columns.exclude);
  const columns: SourceTable['columns'] = [];
  for (const c of t.columns) {
    if (excluded.has(c.name)) continue;
    const mask = tr.columns.mask[c.name];
    const rename = tr.columns.rename[c.name];
    const out: SourceTable['columns'][number] = { ...c, ...(rename ? { replicaName: rename } : {}) };
    if (mask !== undefined) {
      if (!TEXT_KINDS.has(c.kind.kind) || c.kind.array) {
        notes.push(`masked column ${c.name} not compared`);
        continue;
      }
      const salt = source.maskSalt ?? '';
      out.mask =
        mask === 'hash'
          ? (v) => createHmac('sha256', salt).update(v).digest('hex')
          : mask === 'redact'
            ? () => '***'
            : (v) => [...v].slice(0, mask.truncate).join('');
    }
    columns.push(out);
  }
  if (Object.keys(tr.columns.computed).length > 0) notes.push('computed columns not compared');
  // As the capture: the default entry ("*") filters only tables that have every column its
  // filter names; a table's own entry naming a missing column is the capture's error to report.
  const parsed = tr.filter === undefined ? undefined : parseExpression(tr.filter);
  const filter =
    parsed && (entry.key !== '*' || columnsOf(parsed).every((c) => names.has(c))) ? parsed : undefined;
  const where = filter
    ? toPostgresSql(filter, (path) => (names.has(path) ? quoteIdent(path) : 'NULL'))
    : undefined;
  return {
    ...t,
    columns,
    ...(where ? { where } : {}),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

/**
 * The pipeline file's per-table transforms for this capture: compiled for each table when it
 * is described (snapshot, incremental snapshot or a Relation message in the stream), so the
 * Avro schema registered for the table is the projected one, and every path passes its rows
 * through the same `RowGate`.
 */

import { type PgTextValue, pgKeyFromRow, pgRowFromText } from '@cdc/avro';
import {
  type CompiledTransform,
  compileTableTransform,
  type GateResult,
  noopQualityObserver,
  type OutRecord,
  quarantineRecord,
  quarantineTopic,
  RowGate,
  transformFor,
} from '@cdc/capture';
import type { Logger } from '@cdc/core';
import type { TableTransform } from '@cdc/pipeline';
import type pg from 'pg';
import type { CapturedTable } from '../relations.ts';

export interface TransformSettings {
  tables: Record<string, TableTransform>;
  maskSalt?: string | undefined;
  /** The source's name, for errors naming the key (`sources.postgres[shop].tables`). */
  source: string;
}

export class TableTransforms {
  readonly gate: RowGate;
  readonly quarantineTopic: string;
  private readonly settings: TransformSettings;

  constructor(settings: TransformSettings, prefix: string, gate: RowGate) {
    this.settings = settings;
    this.gate = gate;
    this.quarantineTopic = quarantineTopic(prefix);
  }

  /** No transforms (tests, tools). */
  static none(prefix: string, logger: Logger): TableTransforms {
    return new TableTransforms({ tables: {}, source: '' }, prefix, new RowGate(noopQualityObserver, logger));
  }

  /** Whether any table has an entry (the capture then needs the quarantine topic and the replay signal). */
  get configured(): boolean {
    return Object.keys(this.settings.tables).length > 0;
  }

  compile(captured: CapturedTable): CompiledTransform {
    const name = `${captured.schema}.${captured.table}`;
    const rs = captured.rowSchema;
    const compiled = compileTableTransform(
      name,
      transformFor(this.settings.tables, name),
      rs.row,
      rs.keyFields,
      rs.columns.map((c) => ({ name: c.column.name, field: c.field, isKey: c.column.isKey })),
      { where: `sources.postgres[${this.settings.source}].tables`, maskSalt: this.settings.maskSalt },
    );
    this.gate.watch(compiled);
    return compiled;
  }

  apply(
    transform: CompiledTransform,
    row: Record<string, unknown>,
    key: Record<string, unknown> | null,
  ): GateResult {
    return this.gate.apply(transform, row, key);
  }

  quarantine(
    transform: CompiledTransform,
    sourceTopic: string,
    key: Record<string, unknown> | null,
    op: string,
    changeId: string,
    result: Extract<GateResult, { kind: 'quarantine' }>,
    nowMs: number,
  ): OutRecord {
    return quarantineRecord({
      topic: this.quarantineTopic,
      sourceTopic,
      table: transform.table,
      key,
      op,
      changeId,
      result,
      nowMs,
    });
  }
}

/** The logical-message prefix of a quarantine replay request for the capture named `name`. */
export function replaySignalPrefix(name: string): string {
  return `cdc.replay.${name}`;
}

export interface ReplayRequest {
  /** `schema.table`. */
  table: string;
  /** Row keys as the quarantine records hold them (stable JSON of the key fields). */
  keys: string[];
}

export function parseReplay(text: string): ReplayRequest | null {
  try {
    const v = JSON.parse(text) as ReplayRequest;
    if (typeof v.table !== 'string' || !Array.isArray(v.keys) || v.keys.some((k) => typeof k !== 'string'))
      return null;
    return v;
  } catch {
    return null;
  }
}

/** Reads a row by its key (stable JSON of the key fields) as text values in column order; null when gone. */
export type RowReader = (table: CapturedTable, keyJson: string) => Promise<PgTextValue[] | null>;

const textTypes = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

export function rowReader(client: pg.ClientBase): RowReader {
  return async (table, keyJson) => {
    const key = JSON.parse(keyJson) as Record<string, unknown>;
    const rs = table.rowSchema;
    const quote = (c: string) => `"${c.replaceAll('"', '""')}"`;
    const keyCols = rs.columns.filter((c) => c.column.isKey);
    const where = keyCols.map((c, i) => `${quote(c.column.name)}::text = $${i + 1}`).join(' AND ');
    const { rows } = await client.query<PgTextValue[]>({
      text: `SELECT ${rs.columns.map((c) => quote(c.column.name)).join(', ')} FROM ${quote(table.schema)}.${quote(table.table)} WHERE ${where}`,
      values: keyCols.map((c) => keyValueText(key[c.field])),
      rowMode: 'array',
      types: textTypes,
    });
    return rows[0] ?? null;
  };
}

/** A key field as PostgreSQL prints it (keys are numbers, text, uuids… in practice). */
function keyValueText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  return String(v);
}

/** The key record of a row that is gone, from the request's key JSON (types as the key schema wants them). */
export function keyFromJson(table: CapturedTable, keyJson: string): Record<string, unknown> {
  const key = JSON.parse(keyJson) as Record<string, unknown>;
  const rs = table.rowSchema;
  const text = rs.columns.map((c) => (c.column.isKey ? keyValueText(key[c.field]) : null));
  return pgKeyFromRow(rs, pgRowFromText(rs, text));
}

/**
 * Creates and evolves the tables of one database. Per topic table `t`:
 *
 * - `t`: `ReplacingMergeTree(_version, _is_deleted)` ordered by the key, with
 *   `non_replicated_deduplication_window` so that an insert repeated with the same
 *   `insert_deduplication_token` is dropped on a single node;
 * - `t_history`: every change once (`ReplacingMergeTree` ordered by key and `_version`, fed by
 *   the materialized view `t_history_mv`), never collapsed to the latest: the full history;
 * - `t_current`: the current state: `t FINAL` without deleted rows and without rows older than
 *   the table's last truncation (`_cdc_truncations`).
 *
 * Names: every identifier is quoted (`@cdc/core` `quoteIdent`), so any table or column name
 * works. Each table records who writes it in its comment (`claimComment`: the topic and the exact
 * source name); a second writer is refused (`claim`), so two source names never share a table.
 *
 * Evolution: a column the table lacks is added (`ALTER TABLE … ADD COLUMN`) before the batch
 * that needs it, to `t` and `t_history`, and the view and materialized view are recreated. A
 * column whose type would change, or a different key, is incompatible: `SCHEMA_INCOMPATIBLE`.
 */
import {
  CdcError,
  claimComment,
  isPlainIdent,
  type Logger,
  parseClaimComment,
  quoteIdent,
  quoteString,
  type TableClaim,
} from '@cdc/core';
import type { ClickHouseTransport } from '../transport/transport.ts';
import { orderBy, type TableShape, tableColumns } from './table-shape.ts';

export const TRUNCATIONS_TABLE = '_cdc_truncations';
export const DEDUP_WINDOW = 10_000;

interface KnownTable {
  columns: Map<string, string>;
  sortingKey: string;
}

const q = quoteIdent;
const literal = quoteString;
/** A table or database name in a qualified name: bare when plain (the embedded engine's insert accepts only those), else quoted. */
const part = (name: string) => (isPlainIdent(name) ? name : quoteIdent(name));

export class TableManager {
  readonly database: string;
  private readonly transport: ClickHouseTransport;
  private readonly logger: Logger;
  private readonly known = new Map<string, KnownTable>();
  private readonly checkedShapes = new Map<string, string>();
  private readonly canonical = new Map<string, string>();
  /** Who writes each table (from its comment, or claimed by this process before creating it). */
  private readonly owners = new Map<string, TableClaim>();
  private ready = false;

  constructor(transport: ClickHouseTransport, database: string, logger: Logger) {
    this.transport = transport;
    this.database = database;
    this.logger = logger;
  }

  qualified(table: string): string {
    return `${part(this.database)}.${part(table)}`;
  }

  async init(): Promise<void> {
    if (this.ready) return;
    await this.transport.command(`CREATE DATABASE IF NOT EXISTS ${q(this.database)}`);
    await this.transport.command(
      `CREATE TABLE IF NOT EXISTS ${this.qualified(TRUNCATIONS_TABLE)} (table_name String, _version UInt128, _change_id String, _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY (table_name, _version) SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
    );
    this.ready = true;
  }

  /**
   * Records that `claim` writes `table`, or throws when another topic or source already does
   * (a name collision): `CONFIG_INVALID` with `context.collision = 'topic'` when another topic
   * maps to the same table (the fix is a `clickhouse.sink.tables` entry), `SOURCE_UNSUPPORTED`
   * with `context.collision = 'source'` when two source tables share one topic (the fix is at
   * the source). A table created by an earlier version (no claim in its comment) is adopted.
   * The sink claims only for topics whose table is named by default: a table that
   * `clickhouse.sink.tables` names may take several topics by design.
   */
  async claim(table: string, claim: TableClaim): Promise<void> {
    let owner = this.owners.get(table);
    if (!owner) {
      await this.init();
      const [row] = await this.transport.query<{ comment: string }>(
        `SELECT comment FROM system.tables WHERE database = ${literal(this.database)} AND name = ${literal(table)}`,
      );
      owner = parseClaimComment(row?.comment);
      if (!owner) {
        owner = claim;
        if (row)
          await this.transport.command(
            `ALTER TABLE ${this.qualified(table)} MODIFY COMMENT ${literal(claimComment(claim))}`,
          );
      }
      this.owners.set(table, owner);
    }
    if (owner.topic !== claim.topic) {
      throw new CdcError(
        'CONFIG_INVALID',
        `table ${table} is written by topic ${owner.topic} (${owner.source}); topic ${claim.topic} (${claim.source}) maps to the same table name. Give it its own table: set clickhouse.sink.tables.${JSON.stringify(claim.topic)}.table to a free name and restart the sink`,
        {
          context: {
            collision: 'topic',
            table,
            topic: claim.topic,
            source: claim.source,
            ownerTopic: owner.topic,
            ownerSource: owner.source,
          },
        },
      );
    }
    if (owner.source !== claim.source) {
      throw new CdcError(
        'SOURCE_UNSUPPORTED',
        `table ${table} (topic ${claim.topic}) is written by ${owner.source}; a change of ${claim.source} arrived in the same topic (their names map to one topic name). Rename one of them at the source so that their topic names differ, then replay this dead letter`,
        {
          context: {
            collision: 'source',
            table,
            topic: claim.topic,
            source: claim.source,
            ownerSource: owner.source,
          },
        },
      );
    }
  }

  /** Whether `table` exists in the database. */
  async exists(table: string): Promise<boolean> {
    if (this.known.has(table)) return true;
    const [row] = await this.transport.query<{ n: number | string }>(
      `SELECT count() AS n FROM system.tables WHERE database = ${literal(this.database)} AND name = ${literal(table)}`,
    );
    return Number(row?.n ?? 0) > 0;
  }

  /** Forgets what it knows (after a rebuild swapped tables). */
  forget(table: string): void {
    this.known.delete(table);
    this.owners.delete(table);
    for (const k of [...this.checkedShapes.keys()])
      if (k.startsWith(`${table}\u0000`)) this.checkedShapes.delete(k);
  }

  private async canonicalTypes(types: string[]): Promise<void> {
    const missing = [...new Set(types.filter((t) => !this.canonical.has(t)))];
    if (missing.length === 0) return;
    const sql = `SELECT ${missing.map((t, i) => `toTypeName(defaultValueOfTypeName(${literal(t)})) AS t${i}`).join(', ')}`;
    const [row] = await this.transport.query<Record<string, string>>(sql);
    missing.forEach((t, i) => {
      this.canonical.set(t, row?.[`t${i}`] ?? t);
    });
  }

  private async describe(table: string): Promise<KnownTable | undefined> {
    const cols = await this.transport.query<{ name: string; type: string }>(
      `SELECT name, type FROM system.columns WHERE database = ${literal(this.database)} AND table = ${literal(table)} ORDER BY position`,
    );
    if (cols.length === 0) return undefined;
    const [t] = await this.transport.query<{ sorting_key: string }>(
      `SELECT sorting_key FROM system.tables WHERE database = ${literal(this.database)} AND name = ${literal(table)}`,
    );
    return { columns: new Map(cols.map((c) => [c.name, c.type])), sortingKey: t?.sorting_key ?? '' };
  }

  /**
   * Makes `table` ready for rows of `shape` (create, or add missing columns). Throws
   * `SCHEMA_INCOMPATIBLE` for a change that cannot be applied in place.
   */
  async ensure(table: string, shape: TableShape, shapeId: string): Promise<void> {
    const cacheKey = `${table}\u0000${shapeId}`;
    if (this.checkedShapes.has(cacheKey)) return;
    await this.init();
    let known = this.known.get(table) ?? (await this.describe(table));
    const columns = tableColumns(shape);
    await this.canonicalTypes(columns.map((c) => c.type));
    if (!known) {
      await this.create(table, shape);
      known = await this.describe(table);
      if (!known)
        throw new CdcError('INVARIANT_VIOLATED', `table ${table} is missing right after CREATE TABLE`);
      this.logger.info('table created', { table: `${this.database}.${table}`, orderBy: orderBy(shape) });
    }
    const wantKey = orderBy(shape).join(', ');
    const norm = (k: string) => k.replace(/[`()\s\\]/g, '');
    if (norm(known.sortingKey) !== norm(wantKey)) {
      throw incompatible(table, `the key changed from (${known.sortingKey}) to (${wantKey})`, 'key');
    }
    const added: { name: string; type: string }[] = [];
    for (const c of columns) {
      const have = known.columns.get(c.name);
      const want = this.canonical.get(c.type) ?? c.type;
      if (have === undefined) added.push(c);
      else if (flatType(have) !== flatType(want))
        throw incompatible(table, `column ${c.name} would change type from ${have} to ${want}`, c.name);
    }
    if (added.length > 0) {
      for (const t of [table, `${table}_history`]) {
        await this.transport.command(
          `ALTER TABLE ${this.qualified(t)} ${added.map((c) => `ADD COLUMN IF NOT EXISTS ${q(c.name)} ${c.type}`).join(', ')}`,
        );
      }
      await this.createViews(table, true);
      for (const c of added) known.columns.set(c.name, this.canonical.get(c.type) ?? c.type);
      this.logger.info('columns added', {
        table: `${this.database}.${table}`,
        columns: added.map((c) => `${c.name} ${c.type}`),
      });
    }
    this.known.set(table, known);
    this.checkedShapes.set(cacheKey, wantKey);
  }

  private async create(table: string, shape: TableShape): Promise<void> {
    const owner = this.owners.get(table);
    const comment = owner ? ` COMMENT ${literal(claimComment(owner))}` : '';
    const cols = tableColumns(shape)
      .map((c) => `${q(c.name)} ${c.type}${c.default ? ` DEFAULT ${c.default}` : ''}`)
      .join(', ');
    const key = orderBy(shape).map(q).join(', ');
    await this.transport.command(
      `CREATE TABLE IF NOT EXISTS ${this.qualified(table)} (${cols}) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (${key}) SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}${comment}`,
    );
    await this.transport.command(
      `CREATE TABLE IF NOT EXISTS ${this.qualified(`${table}_history`)} (${cols}) ENGINE = ReplacingMergeTree ORDER BY (${key}, _version) SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
    );
    await this.createViews(table, false);
  }

  /** `t_current` and the materialized view feeding `t_history` (recreated after columns were added). */
  async createViews(table: string, replace: boolean): Promise<void> {
    const mv = this.qualified(`${table}_history_mv`);
    if (replace) await this.transport.command(`DROP VIEW IF EXISTS ${mv}`);
    await this.transport.command(
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${mv} TO ${this.qualified(`${table}_history`)} AS SELECT * FROM ${this.qualified(table)}`,
    );
    await this.transport.command(
      `CREATE OR REPLACE VIEW ${this.qualified(`${table}_current`)} AS SELECT * EXCEPT (_is_deleted) FROM ${this.qualified(table)} FINAL WHERE _version > (SELECT max(_version) FROM ${this.qualified(TRUNCATIONS_TABLE)} WHERE table_name = ${literal(table)})`,
    );
  }
}

function incompatible(table: string, what: string, column: string): CdcError {
  return new CdcError(
    'SCHEMA_INCOMPATIBLE',
    `table ${table}: ${what}, which cannot be applied in place. Rebuild the table from its topic (sink-clickhouse rebuild ${table}) after deciding how the old rows should read, or route the topic to a new table`,
    { context: { table, column } },
  );
}

/** A type without layout: the engine spells nested types over several lines in some places (`toTypeName`) and on one in others (`system.columns`). */
function flatType(type: string): string {
  return type.replace(/\s+/g, ' ').replace(/\(\s/g, '(').replace(/\s\)/g, ')').trim();
}

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
 * Evolution: a column the table lacks is added (`ALTER TABLE … ADD COLUMN`) before the batch
 * that needs it, to `t` and `t_history`, and the view and materialized view are recreated. A
 * column whose new type holds every value of the old one (`widening.ts`: int4 → int8, a
 * decimal's precision raised, NOT NULL dropped, …) is changed in place (`MODIFY COLUMN`), a
 * record of an older, narrower version fits as it is. Any other type change, or a different key,
 * is incompatible: `SCHEMA_INCOMPATIBLE`; except a keyless table's log (ordered by `_change_id`)
 * whose source got a key: it stays a log.
 */
import { CdcError, type Logger } from '@cdc/core';
import type { ClickHouseTransport } from '../transport/transport.ts';
import { quoteIdent } from './column-type.ts';
import { orderBy, type TableShape, tableColumns } from './table-shape.ts';
import { widens } from './widening.ts';

export const TRUNCATIONS_TABLE = '_cdc_truncations';
export const DEDUP_WINDOW = 10_000;

interface KnownTable {
  columns: Map<string, string>;
  sortingKey: string;
}

const q = quoteIdent;

function literal(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export class TableManager {
  readonly database: string;
  private readonly transport: ClickHouseTransport;
  private readonly logger: Logger;
  private readonly known = new Map<string, KnownTable>();
  private readonly checkedShapes = new Map<string, string>();
  private readonly canonical = new Map<string, string>();
  private ready = false;

  /**
   * `convertTypes` (a rebuild): a column whose type changes with no lossless way between old and
   * new is converted to the new type (`MODIFY COLUMN`: ClickHouse casts the rows it holds), not
   * refused: replaying a topic in order ends with the columns of its newest schema.
   */
  private readonly convertTypes: boolean;

  constructor(
    transport: ClickHouseTransport,
    database: string,
    logger: Logger,
    options: { convertTypes?: boolean } = {},
  ) {
    this.transport = transport;
    this.database = database;
    this.logger = logger;
    this.convertTypes = options.convertTypes === true;
  }

  qualified(table: string): string {
    return `${q(this.database)}.${q(table)}`;
  }

  async init(): Promise<void> {
    if (this.ready) return;
    await this.transport.command(`CREATE DATABASE IF NOT EXISTS ${q(this.database)}`);
    await this.transport.command(
      `CREATE TABLE IF NOT EXISTS ${this.qualified(TRUNCATIONS_TABLE)} (table_name String, _version UInt128, _change_id String, _ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY (table_name, _version) SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
    );
    this.ready = true;
  }

  /** Forgets what it knows (after a rebuild swapped tables). */
  forget(table: string): void {
    this.known.delete(table);
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
    const norm = (k: string) => k.replace(/[`()\s]/g, '');
    if (norm(known.sortingKey) !== norm(wantKey) && !this.staysLog(table, known, shape)) {
      throw incompatible(table, `the key changed from (${known.sortingKey}) to (${wantKey})`, 'key');
    }
    const added: { name: string; type: string }[] = [];
    const widened: { name: string; type: string; from: string }[] = [];
    const keyColumns = new Set(orderBy(shape));
    for (const c of columns) {
      const have = known.columns.get(c.name);
      const want = this.canonical.get(c.type) ?? c.type;
      if (have === undefined) added.push(c);
      else if (flatType(have) !== flatType(want)) {
        // A record of an older, narrower schema version: its values fit the column as it is.
        if (widens(flatType(want), flatType(have))) continue;
        if (!keyColumns.has(c.name) && (this.convertTypes || widens(flatType(have), flatType(want))))
          widened.push({ name: c.name, type: c.type, from: have });
        else throw incompatible(table, `column ${c.name} would change type from ${have} to ${want}`, c.name);
      }
    }
    if (added.length > 0 || widened.length > 0) {
      const changes = [
        ...added.map((c) => `ADD COLUMN IF NOT EXISTS ${q(c.name)} ${c.type}`),
        ...widened.map((c) => `MODIFY COLUMN ${q(c.name)} ${c.type}`),
      ];
      for (const t of [table, `${table}_history`])
        await this.transport.command(`ALTER TABLE ${this.qualified(t)} ${changes.join(', ')}`);
      await this.createViews(table, true);
      for (const c of [...added, ...widened]) known.columns.set(c.name, this.canonical.get(c.type) ?? c.type);
      if (added.length > 0)
        this.logger.info('columns added', {
          table: `${this.database}.${table}`,
          columns: added.map((c) => `${c.name} ${c.type}`),
        });
      if (widened.length > 0)
        this.logger.info(
          this.convertTypes
            ? 'columns changed to their new type (the rows they hold are cast)'
            : 'columns widened in place (every value they hold is kept)',
          {
            table: `${this.database}.${table}`,
            columns: widened.map((c) => `${c.name} ${c.from} → ${c.type}`),
          },
        );
    }
    this.known.set(table, known);
    this.checkedShapes.set(cacheKey, wantKey);
  }

  /**
   * A keyless source table (an append-only log here, ordered by `_change_id`) that got a key
   * (ADD PRIMARY KEY) stays a log: its rows keep arriving, every change one row, instead of
   * stopping on the key change. The key columns must be row columns (no `_key_*` to add).
   */
  private staysLog(table: string, known: KnownTable, shape: TableShape): boolean {
    if (known.sortingKey.replace(/[`()\s]/g, '') !== '_change_id') return false;
    if (!shape.keyColumns.every((k) => k.rowField !== undefined)) return false;
    this.logger.warn(
      'the source table got a key, but this table was created as an append-only log (one row per change): it stays one; rebuild it from a topic that starts keyed to get one row per key',
      { table: `${this.database}.${table}`, key: shape.keyColumns.map((k) => k.column) },
    );
    return true;
  }

  private async create(table: string, shape: TableShape): Promise<void> {
    const cols = tableColumns(shape)
      .map((c) => `${q(c.name)} ${c.type}${c.default ? ` DEFAULT ${c.default}` : ''}`)
      .join(', ');
    const key = orderBy(shape).map(q).join(', ');
    await this.transport.command(
      `CREATE TABLE IF NOT EXISTS ${this.qualified(table)} (${cols}) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY (${key}) SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
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
  const fix =
    column === 'key'
      ? `route the topic to a new table (clickhouse.sink.tables.<topic>.table) keyed the new way, or rebuild this one from a topic that starts with the new key`
      : `to take the new type, rebuild the table from its topic with the pipeline stopped (cdc down; cdc rebuild ${table}; cdc up): the rows written before the change are cast to the new type as ClickHouse's CAST does (e.g. a lowered scale truncates); or route the topic to a new table (clickhouse.sink.tables)`;
  return new CdcError(
    'SCHEMA_INCOMPATIBLE',
    `table ${table}: ${what}, which cannot be applied in place without changing values it holds. The table is stopped; ${fix}`,
    { context: { table, column } },
  );
}

/** A type without layout: the engine spells nested types over several lines in some places (`toTypeName`) and on one in others (`system.columns`). */
function flatType(type: string): string {
  return type.replace(/\s+/g, ' ').replace(/\(\s/g, '(').replace(/\s\)/g, ')').trim();
}

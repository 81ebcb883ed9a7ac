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
 * that needs it, to `t` and `t_history`, and the view and materialized view are recreated; a
 * column with a constant default at the source gets it as its `DEFAULT`, which the rows written
 * before read (see docs/schema-evolution.md). A
 * column whose new type holds every value of the old one (`widening.ts`: int4 → int8, a
 * decimal's precision raised, NOT NULL dropped, …) is changed in place (`MODIFY COLUMN`), and
 * a record of an older, narrower version fits as it is (a key column, which ClickHouse cannot
 * change in place, by a copy of the table: `rekey`); in MongoDB tables, whose fields widen
 * as documents vary (see `widening`), a column may also turn to text, keeping every old value.
 * Any other type change, or a different key, is incompatible: `SCHEMA_INCOMPATIBLE` (a rebuild,
 * `convertTypes`, casts to the new type instead); except a keyless table's log (ordered by
 * `_change_id`) whose source got a key: it stays a log.
 */

import type { ClickHouseTransport } from '@cdc/clickhouse';
import { clickhouseCode, orderBy, type TableShape, tableColumns, widens } from '@cdc/clickhouse';
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

export const TRUNCATIONS_TABLE = '_cdc_truncations';
export const DEDUP_WINDOW = 10_000;

interface KnownTable {
  columns: Map<string, string>;
  sortingKey: string;
  /** Columns renamed at the source: old name → the column's name now (from column comments). */
  renamed: Map<string, string>;
}

/** A table's description from its columns (in position order) and sorting key. */
function knownTable(
  cols: readonly { name: string; type: string; comment: string }[],
  sortingKey: string,
): KnownTable {
  const renamed = new Map<string, string>();
  for (const c of cols)
    if (c.comment?.startsWith(RENAMED_FROM))
      for (const old of c.comment.slice(RENAMED_FROM.length).split('\u0000'))
        if (old) renamed.set(old, c.name);
  return { columns: new Map(cols.map((c) => [c.name, c.type])), sortingKey, renamed };
}

/** The column comment recording a rename (so that a record of the older schema still finds it). */
const RENAMED_FROM = 'cdc.renamedFrom:';
const NO_RENAMES: ReadonlyMap<string, string> = new Map();

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
  /** Per table, the value schema id at which it was last recreated (see `recreate`). */
  private readonly recreatedAt = new Map<string, number>();
  /** Per table, columns renamed since `takeRenames` last asked (old name → new name). */
  private readonly renamed = new Map<string, Map<string, string>>();
  /** Per table, columns to drop once the current batch is written (`applyDrops`). */
  private readonly pendingDrops = new Map<string, string[]>();
  private ready = false;
  /**
   * The database's tables as `init` read them: each one's description and claim comment, taken
   * by its first `describe` and `claim` (two reads of the catalog at start instead of three
   * queries per table when its first batch arrives, while the consumer's first fetch keeps this
   * thread busy). A table made or changed later is read as before; `forget` drops its entry.
   */
  private readonly catalog = new Map<string, KnownTable>();
  private readonly catalogComments = new Map<string, string>();

  /**
   * `convertTypes` (a rebuild): a column whose type changes with no lossless way between old and
   * new is converted to the new type (`MODIFY COLUMN`: ClickHouse casts the rows it holds), not
   * refused. A topic's partitions are replayed in no set order, so a record of an older schema
   * may come after a newer one and cast a column back: a rebuild ends by making the table ready
   * for `newestShape` again.
   */
  private readonly convertTypes: boolean;
  /** Per table, the shape of the highest value schema id it was made ready for (`newestShape`). */
  private readonly newestShapes = new Map<string, { shape: TableShape; shapeId: string }>();
  /** Whether the server has table comments (where the topic owning a table is recorded). */
  private tableComments = true;

  /** A column dropped at the source: kept (made Nullable) or dropped from `t` (see `droppedColumns`). */
  private readonly droppedColumns: 'keep' | 'drop';

  constructor(
    transport: ClickHouseTransport,
    database: string,
    logger: Logger,
    options: { convertTypes?: boolean; droppedColumns?: 'keep' | 'drop' } = {},
  ) {
    this.transport = transport;
    this.database = database;
    this.logger = logger;
    this.convertTypes = options.convertTypes === true;
    this.droppedColumns = options.droppedColumns ?? 'keep';
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
    await this.readCatalog();
    this.ready = true;
  }

  /** Every table's columns, sorting key and comment, in two queries (see `catalog`). */
  private async readCatalog(): Promise<void> {
    const db = literal(this.database);
    const cols = await this.transport.query<{ table: string; name: string; type: string; comment: string }>(
      `SELECT table, name, type, comment FROM system.columns WHERE database = ${db} ORDER BY table, position`,
    );
    const byTable = new Map<string, { name: string; type: string; comment: string }[]>();
    for (const c of cols) {
      const list = byTable.get(c.table);
      if (list === undefined) byTable.set(c.table, [c]);
      else list.push(c);
    }
    let tables: { name: string; sorting_key: string; comment?: string }[];
    try {
      tables = await this.transport.query(
        `SELECT name, sorting_key, comment FROM system.tables WHERE database = ${db}`,
      );
    } catch (err) {
      if (!this.noTableComments(err)) throw err;
      tables = await this.transport.query(
        `SELECT name, sorting_key FROM system.tables WHERE database = ${db}`,
      );
    }
    for (const t of tables) {
      const list = byTable.get(t.name);
      if (list !== undefined) this.catalog.set(t.name, knownTable(list, t.sorting_key));
      if (t.comment !== undefined) this.catalogComments.set(t.name, t.comment);
    }
  }

  /** Whether `err` says the server keeps no table comments (before 21.x); if so, remembered and logged once. */
  private noTableComments(err: unknown): boolean {
    if (clickhouseCode(err) !== 47 && !/Unknown identifier: comment/.test(String(err))) return false;
    if (this.tableComments)
      this.logger.info('this ClickHouse keeps no table comments: table ownership is checked per process', {
        database: this.database,
      });
    this.tableComments = false;
    return true;
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
      let row: { comment: string } | undefined;
      const read = this.catalogComments.get(table);
      this.catalogComments.delete(table);
      if (read !== undefined) row = { comment: read };
      else if (this.tableComments) {
        try {
          [row] = await this.transport.query<{ comment: string }>(
            `SELECT comment FROM system.tables WHERE database = ${literal(this.database)} AND name = ${literal(table)}`,
          );
        } catch (err) {
          // A server without table comments (before 21.x): the claim lives in this process only.
          if (!this.noTableComments(err)) throw err;
        }
      }
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

  /** Whether `claim` would pass at once (the table's owner is known and is this topic and source): no await needed. */
  isClaimedBy(table: string, claim: TableClaim): boolean {
    const owner = this.owners.get(table);
    return owner !== undefined && owner.topic === claim.topic && owner.source === claim.source;
  }

  /** Whether `ensure` already checked this shape of the table (it would return at once): no await needed. */
  isEnsured(table: string, shapeId: string): boolean {
    return this.checkedShapes.has(`${table}\u0000${shapeId}`);
  }

  /** Whether `table` exists in the database. */
  async exists(table: string): Promise<boolean> {
    if (this.known.has(table)) return true;
    const [row] = await this.transport.query<{ n: number | string }>(
      `SELECT count() AS n FROM system.tables WHERE database = ${literal(this.database)} AND name = ${literal(table)}`,
    );
    return Number(row?.n ?? 0) > 0;
  }

  /**
   * `onIncompatibleSchema: recreate`: moves `table` (and its history) aside as
   * `<table>__before_<schemaId>`, where every row it held stays queryable, so that the next
   * `ensure` creates `table` afresh in the new shape, under the same name. `schemaId` is the
   * value schema of the first record that did not fit. Safe to repeat after a crash.
   */
  async recreate(table: string, schemaId: number): Promise<string> {
    const aside = `${table}__before_${schemaId}`;
    await this.transport.command(`DROP VIEW IF EXISTS ${this.qualified(`${table}_history_mv`)}`);
    await this.transport.command(`DROP VIEW IF EXISTS ${this.qualified(`${table}_current`)}`);
    const renames: string[] = [];
    for (const [from, to] of [
      [table, aside],
      [`${table}_history`, `${aside}_history`],
    ] as const) {
      this.known.delete(from);
      if ((await this.exists(from)) && !(await this.exists(to)))
        renames.push(`${this.qualified(from)} TO ${this.qualified(to)}`);
    }
    if (renames.length > 0) await this.transport.command(`RENAME TABLE ${renames.join(', ')}`);
    this.forget(table);
    this.recreatedAt.set(table, Math.max(schemaId, this.recreatedAt.get(table) ?? 0));
    this.logger.warn(
      'incompatible schema change: the table was moved aside and is created again in the new shape under its name (onIncompatibleSchema: recreate); its rows come again from the source',
      { table: `${this.database}.${table}`, movedTo: `${this.database}.${aside}`, schemaId },
    );
    return aside;
  }

  /**
   * The value schema id at which `table` was last recreated (the largest `<table>__before_<id>`),
   * or 0. A record of an older schema that does not fit the recreated table predates the change
   * and is superseded by the rows read again.
   */
  async lastRecreated(table: string): Promise<number> {
    let id = this.recreatedAt.get(table);
    if (id === undefined) {
      const prefix = `${table}__before_`;
      const rows = await this.transport.query<{ name: string }>(
        `SELECT name FROM system.tables WHERE database = ${literal(this.database)} AND startsWith(name, ${literal(prefix)})`,
      );
      id = 0;
      for (const r of rows) {
        const m = /^(\d+)$/.exec(r.name.slice(prefix.length));
        if (m) id = Math.max(id, Number(m[1]));
      }
      this.recreatedAt.set(table, id);
    }
    return id;
  }

  /**
   * The columns of `table` renamed by the last `ensure` calls (old name → new name), once: the
   * rows of the batch encoded before the rename still use the old names.
   */
  /** Every column of `table` renamed at the source: old name → name now (empty: none). */
  renamesOf(table: string): ReadonlyMap<string, string> {
    return this.known.get(table)?.renamed ?? NO_RENAMES;
  }

  takeRenames(table: string): Map<string, string> | undefined {
    const r = this.renamed.get(table);
    this.renamed.delete(table);
    return r;
  }

  /**
   * `droppedColumns: drop`: drops from `table` the columns its source dropped (see `dropped`),
   * after the batch that found them was written. The history keeps them.
   */
  async applyDrops(table: string): Promise<void> {
    const names = this.pendingDrops.get(table);
    if (!names) return;
    // Every step is idempotent: a failure (ClickHouse away) leaves the drops pending, and the
    // batch's retry applies them again.
    await this.transport.command(`DROP VIEW IF EXISTS ${this.qualified(`${table}_history_mv`)}`);
    await this.transport.command(
      `ALTER TABLE ${this.qualified(table)} ${names.map((name) => `DROP COLUMN IF EXISTS ${q(name)}`).join(', ')}`,
    );
    const known = this.known.get(table);
    for (const name of names) known?.columns.delete(name);
    await this.createViews(table, true);
    // Only these: a later schema may have added drops meanwhile.
    if (this.pendingDrops.get(table) === names) this.pendingDrops.delete(table);
    this.logger.info('columns dropped at the source dropped from the table (its history keeps them)', {
      table: `${this.database}.${table}`,
      columns: names,
    });
  }

  /** Forgets what it knows (after a rebuild swapped tables). */
  forget(table: string): void {
    this.known.delete(table);
    this.catalog.delete(table);
    this.catalogComments.delete(table);
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
    const read = this.catalog.get(table);
    if (read !== undefined) {
      this.catalog.delete(table);
      return read;
    }
    const cols = await this.transport.query<{ name: string; type: string; comment: string }>(
      `SELECT name, type, comment FROM system.columns WHERE database = ${literal(this.database)} AND table = ${literal(table)} ORDER BY position`,
    );
    if (cols.length === 0) return undefined;
    const [t] = await this.transport.query<{ sorting_key: string }>(
      `SELECT sorting_key FROM system.tables WHERE database = ${literal(this.database)} AND name = ${literal(table)}`,
    );
    return knownTable(cols, t?.sorting_key ?? '');
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
    if (norm(known.sortingKey) !== norm(wantKey) && !this.staysLog(table, known, shape)) {
      throw incompatible(table, `the key changed from (${known.sortingKey}) to (${wantKey})`, 'key');
    }
    await this.renameColumns(table, known, shape);
    const added: { name: string; type: string; default?: string }[] = [];
    const rekeyed: string[] = [];
    const widened: { name: string; type: string; how: Widening; from?: string }[] = [];
    const keyColumns = new Set(orderBy(shape));
    for (const c of columns) {
      const have = known.columns.get(c.name);
      const want = this.canonical.get(c.type) ?? c.type;
      if (have === undefined) {
        // A record of a schema from before a rename: its values go to the renamed column (the
        // sink renames the row's keys, see `renamesOf`).
        const now = known.renamed.get(c.name);
        if (now !== undefined && known.columns.has(now)) continue;
        const parked = known.columns.get(widenColumn(c.name));
        // A conversion interrupted after its old column was dropped: only the rename is left.
        if (parked !== undefined && shape.kind === 'mongo' && flatType(parked) === flatType(want))
          widened.push({ name: c.name, type: c.type, how: 'rename' });
        else added.push(c);
      } else if (flatType(have) !== flatType(want)) {
        // A record of an older, narrower schema version: its values fit the column as it is.
        if (widens(flatType(want), flatType(have))) continue;
        const how = shape.kind === 'mongo' ? widening(have, want) : undefined;
        if (how === 'modify-if-null') {
          const [n] = await this.transport.query<{ n: string | number }>(
            `SELECT count() AS n FROM ${this.qualified(table)} WHERE ${q(c.name)} IS NOT NULL`,
          );
          if (Number(n?.n ?? 0) !== 0)
            throw incompatible(table, `column ${c.name} would change type from ${have} to ${want}`, c.name);
          widened.push({ name: c.name, type: c.type, how: 'modify', from: have });
        } else if (how) widened.push({ name: c.name, type: c.type, how, from: have });
        else if (!keyColumns.has(c.name) && (this.convertTypes || widens(flatType(have), flatType(want))))
          widened.push({ name: c.name, type: c.type, how: 'modify', from: have });
        else if (keyColumns.has(c.name) && widens(flatType(have), flatType(want)))
          rekeyed.push(`${c.name} ${have} → ${want}`);
        else throw incompatible(table, `column ${c.name} would change type from ${have} to ${want}`, c.name);
      }
    }
    if (rekeyed.length > 0) {
      // ClickHouse cannot change a key column's type in place: the table is copied.
      await this.rekey(table, shape, rekeyed);
      this.forget(table);
      return this.ensure(table, shape, shapeId);
    }
    if (widened.length > 0) {
      await this.transport.command(`DROP VIEW IF EXISTS ${this.qualified(`${table}_history_mv`)}`);
      for (const w of widened) {
        for (const t of [table, `${table}_history`]) await this.widen(t, w.name, w.type, w.how);
        known.columns.set(w.name, this.canonical.get(w.type) ?? w.type);
        known.columns.delete(widenColumn(w.name));
      }
      if (added.length === 0) await this.createViews(table, true);
      this.logger.info(
        this.convertTypes
          ? 'columns changed to their new type (the rows they hold are cast)'
          : 'columns widened in place (every value they hold is kept)',
        {
          table: `${this.database}.${table}`,
          columns: widened.map((w) => `${w.name} ${w.from ?? '?'} → ${w.type}`),
        },
      );
    }
    if (added.length > 0) {
      for (const t of [table, `${table}_history`]) {
        await this.transport.command(
          `ALTER TABLE ${this.qualified(t)} ${added.map((c) => `ADD COLUMN IF NOT EXISTS ${q(c.name)} ${c.type}${c.default ? ` DEFAULT ${c.default}` : ''}`).join(', ')}`,
        );
      }
      await this.createViews(table, true);
      for (const c of added) known.columns.set(c.name, this.canonical.get(c.type) ?? c.type);
      this.logger.info('columns added', {
        table: `${this.database}.${table}`,
        columns: added.map((c) => `${c.name} ${c.type}${c.default ? ` DEFAULT ${c.default}` : ''}`),
      });
    }
    await this.dropped(table, known, shape);
    this.known.set(table, known);
    this.checkedShapes.set(cacheKey, wantKey);
    const newest = this.newestShapes.get(table);
    if (newest === undefined || valueIdOf(shapeId) >= valueIdOf(newest.shapeId))
      this.newestShapes.set(table, { shape, shapeId });
  }

  /**
   * The shape of the highest value schema id (`<value id>/<key id>`, the registry's ids grow with
   * each new schema) `table` was made ready for in this process; undefined before any.
   */
  newestShape(table: string): { shape: TableShape; shapeId: string } | undefined {
    return this.newestShapes.get(table);
  }

  /**
   * Columns of `table` that `shape` no longer has (dropped at the source), in a table this process
   * claimed (one topic: a table that `clickhouse.sink.tables` gives several topics holds columns
   * of each). `keep`: a column that cannot hold NULL becomes Nullable (every value kept), so the
   * rows written from now on read NULL there, not 0 or ''; `drop`: `DROP COLUMN` in `table` (its
   * history keeps the column and every past value).
   */
  private async dropped(table: string, known: KnownTable, shape: TableShape): Promise<void> {
    if (!this.owners.has(table) || shape.kind === 'mongo') return;
    const wanted = new Set(tableColumns(shape).map((c) => c.name));
    const gone = [...known.columns].filter(([name]) => !wanted.has(name) && !name.endsWith('__cdc_widening'));
    if (gone.length === 0) return;
    if (this.droppedColumns === 'drop') {
      // Dropped once the batch is written (`applyDrops`): rows of the batch written before the
      // change still carry the column.
      this.pendingDrops.set(table, [
        ...new Set([...(this.pendingDrops.get(table) ?? []), ...gone.map(([n]) => n)]),
      ]);
      return;
    }
    // A column with a DEFAULT (a source default carried over) would give the rows written from now
    // on that default: its values are written into every part first, then the default removed.
    const defaults = await this.transport.query<{ name: string }>(
      `SELECT name FROM system.columns WHERE database = ${literal(this.database)} AND table = ${literal(table)} AND default_kind = 'DEFAULT' AND name IN (${gone.map(([name]) => literal(name)).join(', ')})`,
    );
    for (const { name } of defaults) {
      await this.transport.command(
        `ALTER TABLE ${this.qualified(table)} MATERIALIZE COLUMN ${q(name)} SETTINGS mutations_sync = 2`,
      );
      await this.transport.command(
        `ALTER TABLE ${this.qualified(table)} MODIFY COLUMN ${q(name)} REMOVE DEFAULT`,
      );
    }
    const nullable = gone.filter(
      ([, type]) => !/^(Nullable|Array|Map|Tuple|LowCardinality\(Nullable)\(/.test(flatType(type)),
    );
    if (nullable.length === 0) return;
    await this.transport.command(`DROP VIEW IF EXISTS ${this.qualified(`${table}_history_mv`)}`);
    for (const [name, type] of nullable) {
      const flat = flatType(type);
      const low = /^LowCardinality\((.*)\)$/.exec(flat);
      const to = low ? `LowCardinality(Nullable(${low[1]}))` : `Nullable(${flat})`;
      for (const t of [table, `${table}_history`])
        await this.transport.command(
          `ALTER TABLE ${this.qualified(t)} MODIFY COLUMN ${q(name)} ${to} SETTINGS mutations_sync = 2`,
        );
      known.columns.set(name, to);
    }
    await this.createViews(table, true);
    this.logger.info(
      'columns dropped at the source kept, Nullable from now on (rows read NULL there after their next change)',
      {
        table: `${this.database}.${table}`,
        columns: nullable.map(([name]) => name),
      },
    );
  }

  /**
   * Columns the source renamed (`FieldColumn.renamedFrom`): `RENAME COLUMN` in `table` and
   * `table_history`, so the values and the history stay with the column under its new name. Only
   * when the table still has the old name and not the new one, and the old name is not a column
   * of the new shape (a new column that took the old name); safe to repeat after a crash.
   */
  private async renameColumns(table: string, known: KnownTable, shape: TableShape): Promise<void> {
    const names = new Set(shape.columns.map((c) => c.column));
    const renames = shape.columns.filter(
      (c): c is typeof c & { renamedFrom: string } =>
        c.renamedFrom !== undefined &&
        !known.columns.has(c.column) &&
        known.columns.has(c.renamedFrom) &&
        !names.has(c.renamedFrom),
    );
    if (renames.length === 0) return;
    await this.transport.command(`DROP VIEW IF EXISTS ${this.qualified(`${table}_history_mv`)}`);
    for (const t of [table, `${table}_history`]) {
      await this.transport.command(
        `ALTER TABLE ${this.qualified(t)} ${renames.map((c) => `RENAME COLUMN IF EXISTS ${q(c.renamedFrom)} TO ${q(c.column)}`).join(', ')}`,
      );
    }
    const done = this.renamed.get(table) ?? new Map<string, string>();
    for (const c of renames) {
      known.columns.set(c.column, known.columns.get(c.renamedFrom) as string);
      known.columns.delete(c.renamedFrom);
      done.set(c.renamedFrom, c.column);
      // Names it had before, the one it just lost included: records of older schemas still arrive.
      for (const [old, now] of known.renamed) if (now === c.renamedFrom) known.renamed.set(old, c.column);
      known.renamed.set(c.renamedFrom, c.column);
      const olds = [...known.renamed].filter(([, now]) => now === c.column).map(([old]) => old);
      await this.transport.command(
        `ALTER TABLE ${this.qualified(table)} COMMENT COLUMN ${q(c.column)} ${literal(`${RENAMED_FROM}${olds.join('\u0000')}`)}`,
      );
    }
    this.renamed.set(table, done);
    await this.createViews(table, true);
    this.logger.info('columns renamed (values and history kept)', {
      table: `${this.database}.${table}`,
      columns: renames.map((c) => `${c.renamedFrom} → ${c.column}`),
    });
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

  /** Converts a column of `t` in place (see `widening`); safe to repeat after a crash at any step. */
  private async widen(t: string, name: string, type: string, how: Widening): Promise<void> {
    const table = this.qualified(t);
    const cols = await this.transport.query<{ name: string }>(
      `SELECT name FROM system.columns WHERE database = ${literal(this.database)} AND table = ${literal(t)}`,
    );
    const has = (n: string) => cols.some((c) => c.name === n);
    const parked = widenColumn(name);
    if (how === 'modify') {
      await this.transport.command(
        `ALTER TABLE ${table} MODIFY COLUMN ${q(name)} ${type} SETTINGS mutations_sync = 2`,
      );
      return;
    }
    if (how !== 'rename' && has(name)) {
      const text = how === 'json' ? `toJSONString(${q(name)})` : `toString(${q(name)})`;
      const expr = type.startsWith('Nullable(') ? text : `ifNull(${text}, '')`;
      await this.transport.command(`ALTER TABLE ${table} DROP COLUMN IF EXISTS ${q(parked)}`);
      await this.transport.command(`ALTER TABLE ${table} ADD COLUMN ${q(parked)} ${type}`);
      await this.transport.command(
        `ALTER TABLE ${table} UPDATE ${q(parked)} = ${expr} WHERE 1 SETTINGS mutations_sync = 2`,
      );
      await this.transport.command(`ALTER TABLE ${table} DROP COLUMN ${q(name)}`);
    }
    if (has(parked) || how !== 'rename' || !has(name))
      await this.transport.command(`ALTER TABLE ${table} RENAME COLUMN IF EXISTS ${q(parked)} TO ${q(name)}`);
  }

  /**
   * A key column widened at the source (`int4 → int8` on a primary key): ClickHouse refuses to
   * change a key column's type in place, so `table` and its history are copied into tables of the
   * new shape (every value fits: a widening), which then take their names in one `RENAME`; the
   * old ones are dropped. Until the `RENAME` the table is untouched, so a crash at any step leaves
   * it as it was and the next `ensure` starts over.
   */
  private async rekey(table: string, shape: TableShape, changes: string[]): Promise<void> {
    const next = `${table}__rekey`;
    const old = `${table}__rekey_old`;
    for (const t of [next, `${next}_history`, old, `${old}_history`])
      await this.transport.command(`DROP TABLE IF EXISTS ${this.qualified(t)}`);
    await this.create(next, shape, false);
    const want = new Set(tableColumns(shape).map((c) => c.name));
    for (const [from, to] of [
      [table, next],
      [`${table}_history`, `${next}_history`],
    ] as const) {
      const have = await this.transport.query<{ name: string }>(
        `SELECT name FROM system.columns WHERE database = ${literal(this.database)} AND table = ${literal(from)}`,
      );
      const cols = have
        .map((c) => c.name)
        .filter((n) => want.has(n))
        .map(q)
        .join(', ');
      await this.transport.command(
        `INSERT INTO ${this.qualified(to)} (${cols}) SELECT ${cols} FROM ${this.qualified(from)}`,
      );
    }
    await this.transport.command(`DROP VIEW IF EXISTS ${this.qualified(`${table}_history_mv`)}`);
    await this.transport.command(
      `RENAME TABLE ${this.qualified(table)} TO ${this.qualified(old)}, ${this.qualified(`${table}_history`)} TO ${this.qualified(`${old}_history`)}, ${this.qualified(next)} TO ${this.qualified(table)}, ${this.qualified(`${next}_history`)} TO ${this.qualified(`${table}_history`)}`,
    );
    for (const t of [old, `${old}_history`])
      await this.transport.command(`DROP TABLE IF EXISTS ${this.qualified(t)}`);
    const owner = this.owners.get(table);
    if (owner && this.tableComments)
      await this.transport.command(
        `ALTER TABLE ${this.qualified(table)} MODIFY COMMENT ${literal(claimComment(owner))}`,
      );
    await this.createViews(table, true);
    this.logger.info(
      'key columns widened: the table was copied into one keyed by the wider type (every row and change kept)',
      {
        table: `${this.database}.${table}`,
        columns: changes,
      },
    );
  }

  private async create(table: string, shape: TableShape, views = true): Promise<void> {
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
    if (views) await this.createViews(table, false);
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

/**
 * How a MongoDB column takes a wider type (the capture's inferred schema only widens):
 * - `modify`: `MODIFY COLUMN`, exact (Int32 → Int64 or Float64; Int64 → Float64, which rounds
 *   beyond 2^53 as the Float64 column of a long/double field does; a Tuple or Array whose
 *   elements were added or widened: CAST matches tuple elements by name, new ones NULL);
 * - `modify-if-null`: the column only ever held NULL (a field first seen as null), checked first;
 * - `text`: to String, each old value as `toString` writes it, which is how the sink writes the
 *   scalars of a field of several types (`mongoUnionText`);
 * - `json`: to String, an old sub-document or array as `toJSONString` writes it (the sink writes
 *   later ones as canonical Extended JSON; `cdc rebuild` rewrites the old ones so).
 * `undefined`: not a widening.
 */
export type Widening = 'modify' | 'modify-if-null' | 'text' | 'json' | 'rename';

export function widening(have: string, want: string): Widening | undefined {
  const bare = (t: string) => flatType(t.startsWith('Nullable(') ? t.slice(9, -1) : t);
  const h = bare(have);
  const w = bare(want);
  if (w === 'String') return /^(Tuple|Array|Map)\(/.test(h) ? 'json' : 'text';
  // A sub-document that gained fields or whose fields widened: CAST matches tuple elements by name.
  const outer = (t: string) => /^(Tuple|Array)\(/.exec(t)?.[1];
  if (outer(h) !== undefined && outer(h) === outer(w)) return 'modify';
  if (h === 'Int32' && (w === 'Int64' || w === 'Float64')) return 'modify';
  if (h === 'Int64' && w === 'Float64') return 'modify';
  if (h === 'String' && have.startsWith('Nullable(') && want.startsWith('Nullable(')) return 'modify-if-null';
  return undefined;
}

/** Where a column's converted values wait while it is converted. */
const widenColumn = (name: string) => `${name}__cdc_widening`;

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

/** The value schema id of a shape id (`<value id>/<key id>`), -1 if it has none. */
function valueIdOf(shapeId: string): number {
  const id = Number.parseInt(shapeId, 10);
  return Number.isNaN(id) ? -1 : id;
}

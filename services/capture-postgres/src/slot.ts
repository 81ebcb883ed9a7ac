/**
 * The publication and the replication slot: created when missing, reused otherwise.
 *
 * - Publication: `FOR TABLE <include…>` or, with an empty include list, `FOR ALL TABLES`.
 *   Tables added to the include list later are added to an existing publication. Created with
 *   `publish_via_partition_root = true` (set on an existing one that publishes partitions), so
 *   a partitioned table is one table downstream: one topic, one ClickHouse table, its snapshot
 *   and its stream under the same name (see `partitions.ts` for ATTACH / DETACH).
 * - Slot: `pgoutput`. When a snapshot is needed the slot is created on a replication
 *   connection with an exported snapshot (`CREATE_REPLICATION_SLOT … (SNAPSHOT 'export')`);
 *   that connection must stay open and idle until the snapshot's readers have imported it.
 */
import { CdcError, type Logger } from '@cdc/core';
import pg from 'pg';

export interface SlotInfo {
  exists: boolean;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: string | null;
  /** `lost` when max_slot_wal_keep_size removed WAL it needs. */
  walStatus: string | null;
}

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** `schema.table` → `"schema"."table"` (a bare name means `public`). */
export function qualified(name: string): string {
  const dot = name.indexOf('.');
  const [schema, table] = dot < 0 ? ['public', name] : [name.slice(0, dot), name.slice(dot + 1)];
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

export async function slotInfo(client: pg.ClientBase, slot: string): Promise<SlotInfo> {
  const { rows } = await client.query<{
    active: boolean;
    active_pid: number | null;
    confirmed_flush_lsn: string | null;
    wal_status: string | null;
  }>(
    'SELECT active, active_pid, confirmed_flush_lsn::text, wal_status FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  const r = rows[0];
  if (!r) return { exists: false, active: false, activePid: null, confirmedFlushLsn: null, walStatus: null };
  return {
    exists: true,
    active: r.active,
    activePid: r.active_pid,
    confirmedFlushLsn: r.confirmed_flush_lsn,
    walStatus: r.wal_status,
  };
}

export async function ensurePublication(
  client: pg.ClientBase,
  publication: string,
  include: readonly string[],
  logger: Logger,
): Promise<void> {
  const { rows } = await client.query<{ puballtables: boolean; pubviaroot: boolean }>(
    'SELECT puballtables, pubviaroot FROM pg_publication WHERE pubname = $1',
    [publication],
  );
  try {
    if (rows.length === 0) {
      const target =
        include.length === 0 ? 'FOR ALL TABLES' : `FOR TABLE ${include.map(qualified).join(', ')}`;
      // A partitioned table is published as itself (its root), whichever partition a row is in.
      await client.query(
        `CREATE PUBLICATION ${quoteIdent(publication)} ${target} WITH (publish_via_partition_root = true)`,
      );
      logger.info('created publication', { publication, tables: include.length === 0 ? 'all' : include });
      return;
    }
    if (rows[0]?.pubviaroot === false && (await publishesPartitions(client, publication))) {
      try {
        await client.query(
          `ALTER PUBLICATION ${quoteIdent(publication)} SET (publish_via_partition_root = true)`,
        );
        logger.warn(
          'publication publishes partitions of partitioned tables: set publish_via_partition_root = true, so that each partitioned table is captured as one table (its root) into one topic',
          { publication },
        );
      } catch (err) {
        if ((err as { code?: string }).code !== '42501') throw err;
        logger.warn(
          `publication ${publication} publishes the partitions of partitioned tables one by one (each its own topic and table), and this user may not change it: run ALTER PUBLICATION ${publication} SET (publish_via_partition_root = true) as its owner to capture each partitioned table as one table`,
          { publication },
        );
      }
    }
    if (rows[0]?.puballtables || include.length === 0) return;
    const have = await publicationTables(client, publication);
    const missing = include.filter((t) => !have.includes(normalise(t)));
    if (missing.length > 0) {
      await client.query(
        `ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${missing.map(qualified).join(', ')}`,
      );
      logger.info('added tables to the publication', { publication, tables: missing });
    }
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === '42501') {
      throw new CdcError(
        'SOURCE_PERMISSION_DENIED',
        `cannot create or change publication ${publication} (${e.message}): create it as the tables' owner (CREATE PUBLICATION ${publication} FOR TABLE …) or grant the capture's user ownership`,
        { context: { publication }, cause: err },
      );
    }
    if (e.code === '42P01') {
      throw new CdcError('SOURCE_UNSUPPORTED', `an included table does not exist: ${e.message}`, {
        context: { publication, include: [...include] },
        cause: err,
      });
    }
    throw err;
  }
}

const normalise = (t: string) => (t.includes('.') ? t : `public.${t}`);

/** Whether the publication publishes any partition (a table with `relispartition`). */
async function publishesPartitions(client: pg.ClientBase, publication: string): Promise<boolean> {
  const { rows } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_publication_tables pt
     JOIN pg_namespace n ON n.nspname = pt.schemaname
     JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
     WHERE pt.pubname = $1 AND c.relispartition`,
    [publication],
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

/** The publication's tables as `schema.table`. */
export async function publicationTables(client: pg.ClientBase, publication: string): Promise<string[]> {
  const { rows } = await client.query<{ t: string }>(
    `SELECT schemaname || '.' || tablename AS t FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`,
    [publication],
  );
  return rows.map((r) => r.t);
}

/** The publication's tables by oid (`schema.table`): what a Relation message's name is compared with. */
export async function publishedTableNames(
  client: pg.ClientBase,
  publication: string,
): Promise<Map<number, string>> {
  const { rows } = await client.query<{ oid: string; t: string }>(
    `SELECT c.oid::int8 AS oid, pt.schemaname || '.' || pt.tablename AS t
     FROM pg_publication_tables pt
     JOIN pg_namespace n ON n.nspname = pt.schemaname
     JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
     WHERE pt.pubname = $1`,
    [publication],
  );
  return new Map(rows.map((r) => [Number(r.oid), r.t]));
}

export async function createSlot(client: pg.ClientBase, slot: string): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>(
    `SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')`,
    [slot],
  );
  return rows[0]!.lsn;
}

export async function dropSlot(client: pg.ClientBase, slot: string): Promise<void> {
  await client.query(
    'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
}

export interface ExportedSnapshot {
  /** The replication connection that holds the snapshot: keep it open until readers imported it. */
  connection: pg.Client;
  consistentPoint: string;
  snapshotName: string;
}

/** Creates `slot` with an exported snapshot (PostgreSQL 15 syntax). */
export async function createSlotWithSnapshot(
  config: pg.ClientConfig,
  slot: string,
): Promise<ExportedSnapshot> {
  const connection = new pg.Client({ ...config, replication: 'database' } as pg.ClientConfig);
  connection.on('error', () => undefined);
  await connection.connect();
  try {
    const { rows } = await connection.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput (SNAPSHOT 'export')`,
    );
    const r = rows[0]!;
    return { connection, consistentPoint: r.consistent_point, snapshotName: r.snapshot_name };
  } catch (err) {
    await connection.end().catch(() => undefined);
    throw err;
  }
}

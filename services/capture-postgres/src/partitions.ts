/**
 * Partitions attached to or detached from a published partitioned table while the capture runs.
 * With `publish_via_partition_root` every row change of any partition arrives as a change of the
 * root, but `ALTER TABLE … ATTACH PARTITION` (a table whose rows join the parent) and `DETACH
 * PARTITION` (rows that leave it) write no row changes to the WAL. The watcher compares each
 * published root's leaf partitions every `check` and, when they changed, writes a resync request
 * for the root (see `snapshot/incremental.ts`): the whole root is read again, and the keys of the
 * detached partitions that the root no longer holds are deleted downstream, so the replica stays
 * equal to the parent.
 *
 * Limits: the partitions are compared with those seen since this capture started (a change
 * while it was stopped is not seen: `cdc verify --repair` finds it); a partition dropped rather
 * than detached takes its keys with it, so its rows stay downstream until `cdc verify --repair`.
 */
import type { PgQueryable } from '@cdc/avro';
import type { Logger } from '@cdc/core';
import type pg from 'pg';

const LEAVES_SQL = `
SELECT pt.schemaname || '.' || pt.tablename AS root, c.oid::int8 AS root_oid,
       coalesce(array_agg(l.relid::int8) FILTER (WHERE l.isleaf AND l.relid <> c.oid), '{}') AS leaves
FROM pg_publication_tables pt
JOIN pg_namespace n ON n.nspname = pt.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename AND c.relkind = 'p'
LEFT JOIN LATERAL pg_partition_tree(c.oid) l ON true
WHERE pt.pubname = $1
GROUP BY 1, 2`;

const KEY_SQL = `
SELECT a.attname
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = $1::oid AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)`;

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

export interface PartitionWatcherOptions {
  client: pg.ClientBase;
  publication: string;
  /** The prefix of this capture's logical messages (`cdc.watermark.<source>`). */
  messagePrefix: string;
  logger: Logger;
}

export class PartitionWatcher {
  private readonly o: PartitionWatcherOptions;
  /** Per published root (`schema.table`), the oids of its leaf partitions. */
  private known: Map<string, { oid: number; leaves: Set<number> }> | undefined;
  private running = false;

  constructor(options: PartitionWatcherOptions) {
    this.o = options;
  }

  /** Compares the partitions with the last check; the first check only records them. */
  async check(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const now = await this.read();
      const before = this.known;
      this.known = now;
      if (!before) return;
      for (const [root, { oid, leaves }] of now) {
        const had = before.get(root)?.leaves;
        if (!had) continue;
        const attached = [...leaves].filter((l) => !had.has(l));
        const detached = [...had].filter((l) => !leaves.has(l));
        if (attached.length === 0 && detached.length === 0) continue;
        await this.resync(root, oid, attached, detached);
      }
    } finally {
      this.running = false;
    }
  }

  private async read(): Promise<Map<string, { oid: number; leaves: Set<number> }>> {
    const { rows } = await this.o.client.query<{ root: string; root_oid: string; leaves: string[] }>(
      LEAVES_SQL,
      [this.o.publication],
    );
    return new Map(
      rows.map((r) => [r.root, { oid: Number(r.root_oid), leaves: new Set(r.leaves.map(Number)) }]),
    );
  }

  /** Asks the capture to read `root` again, deleting the keys of `detached` that it no longer holds. */
  private async resync(root: string, rootOid: number, attached: number[], detached: number[]): Promise<void> {
    const { client, logger } = this.o;
    const key = (await client.query<{ attname: string }>(KEY_SQL, [rootOid])).rows.map((r) => r.attname);
    const absent: string[][] = [];
    const gone: number[] = [];
    for (const leaf of detached) {
      const { rows } = await client.query<{ name: string | null }>(
        'SELECT quote_ident(n.nspname) || $2 || quote_ident(c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid',
        [leaf, '.'],
      );
      const name = rows[0]?.name;
      if (!name || key.length === 0) {
        gone.push(leaf);
        continue;
      }
      const keys = await client.query<string[]>({
        text: `SELECT ${key.map((k) => `${quoteIdent(k)}::text`).join(', ')} FROM ${name}`,
        rowMode: 'array',
      });
      absent.push(...keys.rows.map((r) => r.map(String)));
    }
    const body = JSON.stringify({ table: root, ranges: [{ from: null, to: null, absent }] });
    await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [
      this.o.messagePrefix,
      `resync:${body}`,
    ]);
    logger.info('partitions attached or detached: the partitioned table is read again', {
      table: root,
      attached: attached.length,
      detached: detached.length,
      keysLeaving: absent.length,
    });
    if (gone.length > 0)
      logger.warn(
        'a partition was dropped, not detached: its rows stay downstream until cdc verify --repair removes them',
        { table: root, partitions: gone.length },
      );
  }
}

const VIA_ANCESTOR_SQL = `
SELECT EXISTS (
  SELECT 1
  FROM pg_publication p
  JOIN pg_partition_ancestors($1::oid) a ON a.relid <> $1::oid
  JOIN pg_class c ON c.oid = a.relid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_publication_tables pt ON pt.pubname = p.pubname AND pt.schemaname = n.nspname AND pt.tablename = c.relname
  WHERE p.pubname = $2 AND p.pubviaroot
) AS via`;

/**
 * Whether the changes of relation `oid` (a partition) are published as those of an ancestor
 * (`publish_via_partition_root` and the ancestor in the publication): pgoutput still sends the
 * partition's own Relation message, which then names no table of its own downstream.
 */
export async function publishedViaAncestor(
  client: PgQueryable,
  oid: number,
  publication: string,
): Promise<boolean> {
  const { rows } = await client.query<{ via: boolean }>(VIA_ANCESTOR_SQL, [oid, publication]);
  return rows[0]?.via === true;
}

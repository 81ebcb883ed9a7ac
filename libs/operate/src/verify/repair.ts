/**
 * `cdc verify --repair` for PostgreSQL tables: what it asks of the capture, and how it checks
 * the outcome. The repair writes a resync request per differing table into its source's WAL
 * (`pg_logical_emit_message(true, 'cdc.watermark.<source>', 'resync:{…}')`): the capture meets it
 * in commit order and re-reads those keys as an incremental snapshot (capture-postgres
 * `snapshot/incremental.ts`), deleting the keys only ClickHouse held if the source still lacks
 * them, so the fix travels through Kafka like any change. An integer key is asked for as ranges
 * of adjacent keys; any other key one key at a time (`from` = `to` = the key: the capture's
 * row comparison then selects exactly that key whatever the collation).
 *
 * Afterwards only the repaired keys are compared again (`reverifyRepaired`): the rest of the
 * table matched in the comparison that found them.
 */
import type { ClickHouseReader } from '@cdc/clickhouse';
import type pg from 'pg';
import { readReplicaKeys, readReplicaRows, replicaColumnTypes } from './clickhouse-side.ts';
import { PagedComparison, type Rows, rowText } from './compare.ts';
import { readSourceKeys, readSourceRows, type SourceTable, tupleKeyOf } from './postgres-side.ts';
import type { TableReport, VerifyReport } from './report.ts';

/** Most ranges one repair asks for; beyond it a rebuild of the table is the better tool. */
export const MAX_REPAIR_RANGES = 10_000;
/** Keys read per query when comparing repaired keys again (and widest integer range read at once). */
const KEYS_PER_READ = 1_000;

type Repair = NonNullable<TableReport['repair']>;

/** How many keys a repair covers (an integer range counts every key in it: each differed). */
export function repairedKeyCount(r: Repair): number {
  if (r.values) return r.values.length;
  return r.ranges.reduce((n, x) => n + Number(BigInt(x.hi) - BigInt(x.lo) + 1n), 0);
}

/** The resync request's ranges for one table's repair (`from`/`to`/`absent`: text values of the key columns). */
export function resyncRanges(r: Repair): { from: string[]; to: string[]; absent: string[][] }[] {
  if (r.values) {
    const absent = new Set(r.onlyInClickHouse);
    return r.values.map((v) => ({ from: v, to: v, absent: absent.has(rowText(v)) ? [v] : [] }));
  }
  const absent = r.onlyInClickHouse.map((k) => BigInt(k));
  return r.ranges.map((x) => {
    const lo = BigInt(x.lo);
    const hi = BigInt(x.hi);
    return {
      from: [x.lo],
      to: [x.hi],
      absent: absent.filter((k) => k >= lo && k <= hi).map((k) => [String(k)]),
    };
  });
}

/** Writes a resync request per differing table of `source` (see the file comment). */
export async function requestRepairs(
  source: string,
  client: pg.Client,
  report: VerifyReport,
  log: (l: string) => void,
): Promise<void> {
  for (const t of report.tables) {
    if (t.match || t.source !== source) continue;
    if (!t.repair || (t.repair.keys && !t.repair.values)) {
      report.problems.push(
        `${t.table} differs and cannot be repaired by keys (it needs a primary key of integer, uuid or text columns, and no transforms): rebuild it with cdc rebuild or re-add it to the include list`,
      );
      continue;
    }
    const ranges = resyncRanges(t.repair);
    if (ranges.length > MAX_REPAIR_RANGES) {
      report.problems.push(
        `${t.table} has ${ranges.length} differing key ranges, more than one repair re-reads (${MAX_REPAIR_RANGES}): rebuild the table instead`,
      );
      continue;
    }
    // Several messages for many ranges: each is one WAL record.
    for (let i = 0; i < ranges.length; i += 500) {
      const body = JSON.stringify({ table: t.table, ranges: ranges.slice(i, i + 500) });
      await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [
        `cdc.watermark.${source}`,
        `resync:${body}`,
      ]);
    }
    const deletes = t.repair.onlyInClickHouse.length;
    report.repairs.push({ source, table: t.table, ranges: ranges.length, deletes });
    log(
      `verify: ${t.table}: asked the capture to re-read ${ranges.length} key range(s) (${deletes} key(s) only in ClickHouse)`,
    );
  }
}

/**
 * The table's report after its repair, from comparing only the repaired keys again (in the
 * caller's snapshot); undefined when the repair did not cover every differing key (more than
 * were kept), so the whole table must be compared again.
 */
export async function reverifyRepaired(
  before: TableReport,
  t: SourceTable,
  chTable: string,
  client: pg.Client,
  reader: ClickHouseReader,
  database: string,
  maxDiffs = 5,
): Promise<TableReport | undefined> {
  const r = before.repair;
  if (!r) return undefined;
  const n = repairedKeyCount(r);
  if ((before.differing ?? 0) > n) return undefined;
  const sum = new PagedComparison(
    t.columns.map((c) => c.name),
    maxDiffs,
    n,
  );
  if (r.values) {
    const tuple = tupleKeyOf(t, await replicaColumnTypes(reader, database, chTable));
    if (!tuple.ok) return undefined;
    for (let i = 0; i < r.values.length; i += KEYS_PER_READ) {
      const batch = r.values.slice(i, i + KEYS_PER_READ);
      const [a, b] = await Promise.all([
        readSourceKeys(client, t, tuple.columns, batch),
        readReplicaKeys(reader, database, chTable, t, tuple.columns, batch),
      ]);
      sum.add(a, b);
    }
  } else {
    for (const x of r.ranges) {
      const hi = BigInt(x.hi);
      for (let lo = BigInt(x.lo); lo <= hi; lo += BigInt(KEYS_PER_READ)) {
        const top = lo + BigInt(KEYS_PER_READ) - 1n < hi ? lo + BigInt(KEYS_PER_READ) - 1n : hi;
        const range = { key: r.key, lo, hi: top };
        const [a, b] = await Promise.all([
          readSourceRows(client, t, range),
          readReplicaRows(reader, database, chTable, t, range).then(
            (x): Rows => (x.exists ? x.rows : new Map()),
          ),
        ]);
        sum.add(a, b);
      }
    }
  }
  const c = sum.result;
  // Counts: the table's before, with the repaired keys' rows as they are now.
  const srcBefore = n - r.onlyInClickHouse.length;
  const chBefore = n - (r.onlyAtSource?.length ?? 0);
  const remaining = new Set(sum.keys);
  // The first comparison's checksums, ranges and rate do not describe this one.
  const {
    sourceChecksum: _s,
    clickhouseChecksum: _c,
    repair: _r,
    note: _n,
    ranges: _g,
    rowsPerSecond: _p,
    ...rest
  } = before;
  return {
    ...rest,
    sourceRows: (before.sourceRows ?? 0) - srcBefore + c.sourceRows,
    clickhouseRows: (before.clickhouseRows ?? 0) - chBefore + c.clickhouseRows,
    match: c.match,
    diffs: c.diffs,
    differing: c.differing,
    reverified: n,
    ...(c.differing > 0
      ? {
          repair: {
            ...r,
            keys: r.keys?.filter((k) => remaining.has(k)),
            values: r.values?.filter((v) => remaining.has(rowText(v))),
            ranges: r.values
              ? []
              : r.ranges.filter((x) =>
                  sum.keys.some((k) => BigInt(k) >= BigInt(x.lo) && BigInt(k) <= BigInt(x.hi)),
                ),
            onlyInClickHouse: sum.onlyInClickHouse,
            onlyAtSource: [],
          },
        }
      : {}),
    note: `compared again: the ${n} repaired key(s) only (the rest matched before the repair)`,
  };
}

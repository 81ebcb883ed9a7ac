/**
 * `cdc verify`: proves that ClickHouse holds what the sources hold. For every captured table
 * (PostgreSQL) and collection (MongoDB, see mongo-verify.ts):
 * row count, an order-independent checksum over all columns (values in one canonical text
 * form on both sides, see canonical.ts) and, on a mismatch, the first differing keys with both
 * sides' values. Exit 0 only when every table matches.
 *
 * Before comparing it waits, at most `timeoutMs`, for the pipeline to reach the source
 * position read at its start: PostgreSQL's `pg_current_wal_lsn()` against what the capture
 * has committed to Kafka (the slot's confirmed position, which the capture advances only after
 * the Kafka transaction committed, or the position in its offsets topic), then the sink's
 * consumer group past the tables' topics' ends at that moment (or drained). The source is then
 * read in one REPEATABLE READ snapshot per attempt; a table with a one-column integer key by
 * key ranges (range-verify.ts), memory bounded; others whole. A source that keeps changing can still differ
 * at the moment of reading: a mismatch is compared again until the time is up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClickHouseReader, openReader } from '@cdc/clickhouse';
import { clickHouseColumnName, createJsonLogger, type LsnText, parseLsn } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { loadPipeline, type PostgresSource } from '@cdc/pipeline';
import type pg from 'pg';
import { drained, groupLag, type PartitionLag, readPositions } from '../kafka-progress.ts';
import { availability } from '../services.ts';
import { tableFor, topicFor } from '../topics.ts';
import { rowHashSql } from './checksum-sql.ts';
import {
  readReplicaRows,
  replicaColumnTypes,
  replicaKeyBounds,
  replicaRangeSide,
} from './clickhouse-side.ts';
import { compareRows, type TableComparison } from './compare.ts';
import {
  compareMongoTargets,
  type MongoTarget,
  openMongoTarget,
  requestMongoRepairs,
} from './mongo-verify.ts';
import {
  capturedTables,
  connectSource,
  currentLsn,
  describeTable,
  rangeKeyOf,
  readSourceRows,
  type SourceTable,
  slotConfirmedLsn,
  sourceKeyBounds,
  sourceRangeSide,
} from './postgres-side.ts';
import { type KeyRange, mergeRanges } from './range-plan.ts';
import { compareRanges, type RangeOptions } from './range-verify.ts';
import { applyTransforms } from './transforms.ts';

export interface VerifyOptions {
  config: string;
  timeoutMs: number;
  /**
   * Whether the embedded engine's directory may be opened when the sink's endpoint does not
   * answer (default true; a long-running verifier must not: it would lock the sink out).
   */
  openDirectory?: boolean;
  /** Compare once, without comparing again on a mismatch (a continuous verifier's next run does). */
  once?: boolean;
  /** Range comparison settings (tests and benchmarks; defaults otherwise). */
  ranges?: Partial<RangeOptions>;
  /**
   * Re-read the differing keys through the capture (PostgreSQL: a resync request in the source's
   * WAL; MongoDB: resync signals naming the keys), so the fix travels through Kafka like any
   * change, then compare again until they match or time is up.
   */
  repair?: boolean;
  /** Only these sources (by name); default every source of the file. */
  sources?: readonly string[];
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface TableReport extends Partial<TableComparison> {
  source: string;
  table: string;
  clickhouseTable: string;
  match: boolean;
  note?: string;
  /**
   * How the table was compared: `ranges` (per-range counts and checksums computed by both
   * databases, bisected to the differing keys), `ranges-rows` (per-range counts, rows compared
   * in memory one range at a time: a column has no SQL canonical form), `pages` (MongoDB: the
   * documents a page at a time against the rows of their keys), `in-memory` (all rows at once:
   * no one-column integer key).
   */
  method?: 'ranges' | 'ranges-rows' | 'pages' | 'in-memory';
  /** Key ranges compared (every bisection level). */
  ranges?: number;
  /** Source rows compared per second. */
  rowsPerSecond?: number;
  /**
   * What `--repair` re-reads: the differing keys as ranges of the key column (PostgreSQL) or one
   * by one (`keys`, MongoDB: `_id` as canonical Extended JSON), and the keys only ClickHouse holds.
   */
  repair?: { key: string; ranges: { lo: string; hi: string }[]; keys?: string[]; onlyInClickHouse: string[] };
}

export interface SourceReport {
  name: string;
  kind: 'postgres' | 'mongo';
  startPosition: string | null;
  /** The capture's committed position when the comparison ran. */
  capturedPosition: string | null;
  caughtUp: boolean;
  note?: string;
}

export interface VerifyReport {
  ok: boolean;
  config: string;
  elapsedMs: number;
  attempts: number;
  sinkDrained: boolean;
  sources: SourceReport[];
  tables: TableReport[];
  problems: string[];
  /** `--repair`: what was asked of the captures (the report's tables are those compared after). */
  repairs: RepairRequest[];
}

export interface RepairRequest {
  source: string;
  table: string;
  /** Key ranges re-read (MongoDB: keys re-read). */
  ranges: number;
  /** Keys only ClickHouse held, deleted unless the source has them by then. */
  deletes: number;
  /** What `ranges` counts (absent: key ranges). */
  kind?: 'ranges' | 'keys';
}

interface PgTarget {
  source: PostgresSource;
  client: pg.Client;
  tables: { t: SourceTable; topic: string; chTable: string }[];
  report: SourceReport;
}

export async function verify(o: VerifyOptions): Promise<VerifyReport> {
  const t0 = Date.now();
  const deadline = t0 + o.timeoutMs;
  const log = o.log ?? (() => undefined);
  const pipeline = loadPipeline(o.config, o.env);
  const report: VerifyReport = {
    ok: false,
    config: o.config,
    elapsedMs: 0,
    attempts: 0,
    sinkDrained: false,
    sources: [],
    tables: [],
    problems: [],
    repairs: [],
  };
  const section = pipeline.clickhouse;
  if (!section) {
    report.problems.push('the pipeline file has no clickhouse section: nothing to verify against');
    return report;
  }
  const wanted = (name: string) => !o.sources || o.sources.length === 0 || o.sources.includes(name);
  const targets: PgTarget[] = [];
  const mongoTargets: MongoTarget[] = [];
  const kafka = createKafka(pipeline.kafka, createJsonLogger({ level: 'error' }));
  const admin = kafka.admin();
  let reader: ClickHouseReader | undefined;
  try {
    await admin.connect();
    for (const source of pipeline.sources.postgres.filter((s) => wanted(s.name))) {
      const client = await connectSource(source);
      const start = await currentLsn(client);
      const names = await capturedTables(client, source);
      const prefix = source.topicPrefix ?? source.name;
      const tables = [];
      for (const n of names) {
        const t = applyTransforms(await describeTable(client, n.schema, n.table), source);
        const topic = topicFor(prefix, { db: source.connection.database, schema: n.schema, table: n.table });
        tables.push({ t, topic, chTable: tableFor(pipeline, topic) });
      }
      const r: SourceReport = {
        name: source.name,
        kind: 'postgres',
        startPosition: start,
        capturedPosition: null,
        caughtUp: false,
      };
      targets.push({ source, client, tables, report: r });
      report.sources.push(r);
      log(`verify: ${source.name}: ${tables.length} table(s), source position ${start}`);
    }
    for (const m of pipeline.sources.mongo.filter((s) => wanted(s.name))) {
      const a = availability('capture-mongo');
      if (!a.available) {
        report.sources.push({
          name: m.name,
          kind: 'mongo',
          startPosition: null,
          capturedPosition: null,
          caughtUp: false,
          note: `not verified: ${a.reason}`,
        });
        report.problems.push(
          `source ${m.name} (MongoDB) was not verified; pass --source to verify the others only`,
        );
        continue;
      }
      const x = await openMongoTarget(m, admin, pipeline);
      mongoTargets.push(x);
      report.sources.push(x.report);
      log(
        `verify: ${m.name}: ${x.collections.length} collection(s), ${x.report.startPosition ?? 'no operation time'}`,
      );
    }
    reader = await openReader(section, { openDirectory: o.openDirectory ?? true });
    const topics = [
      ...targets.flatMap((x) => x.tables.map((t) => t.topic)),
      ...mongoTargets.flatMap((x) => x.collections.map((c) => c.topic)),
    ];
    // 1. Wait for the capture to reach the start position and the sink to pass it: to consume
    // what the topics held once the capture had reached it (not to drain them: a source that
    // keeps changing keeps them growing).
    let lastNote = 0;
    let passAt: Map<string, bigint> | undefined;
    for (;;) {
      const existing = new Set(await admin.listTopics());
      for (const x of targets) {
        if (x.report.caughtUp) continue;
        const confirmed = await slotConfirmedLsn(x.client, x.source.slot);
        x.report.capturedPosition = confirmed;
        x.report.caughtUp =
          confirmed !== null && parseLsn(confirmed as LsnText) >= parseLsn(x.report.startPosition as LsnText);
      }
      const lags = await groupLag(
        admin,
        section.sink.groupId,
        topics.filter((t) => existing.has(t)),
      );
      report.sinkDrained = drained(lags);
      const caughtUp = targets.every((x) => x.report.caughtUp);
      if (caughtUp && !passAt) passAt = new Map(lags.map((l) => [`${l.topic}/${l.partition}`, l.end]));
      if (caughtUp && (report.sinkDrained || (passAt && passed(lags, passAt)))) break;
      if (Date.now() > deadline) break;
      if (Date.now() - lastNote > 5_000) {
        lastNote = Date.now();
        const behind = lags.reduce((a, l) => a + l.lag, 0n);
        log(
          `verify: waiting for the pipeline: ${targets
            .map(
              (x) =>
                `${x.source.name} captured ${x.report.capturedPosition ?? 'nothing'} / start ${x.report.startPosition}`,
            )
            .join(', ')}; sink lag ${behind}`,
        );
      }
      // The capture confirms an idle position only on a keepalive: once the sink is drained, compare anyway.
      if (report.sinkDrained && Date.now() - t0 > 5_000) break;
      await sleep(500);
    }
    // 2. Compare; on a mismatch compare again while time remains (the source may still be moving).
    for (;;) {
      report.attempts++;
      report.tables = [];
      for (const x of targets) {
        // One snapshot of the source for all its tables.
        await x.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        try {
          for (const { t, chTable } of x.tables) {
            report.tables.push(
              await compareTable(x.source.name, t, chTable, x.client, reader, section.database, o.ranges),
            );
          }
        } finally {
          await x.client.query('COMMIT').catch(() => undefined);
        }
      }
      report.tables.push(
        ...(await compareMongoTargets(
          mongoTargets,
          kafka,
          admin,
          reader,
          section.database,
          o.ranges?.rowsPerSecond,
        )),
      );
      const allMatch = report.tables.every((t) => t.match);
      if (!allMatch && o.repair && report.repairs.length === 0) {
        await requestRepairs(targets, report, log);
        await requestMongoRepairs(mongoTargets, kafka, admin, pipeline.control.signalTopic, report, log);
        if (report.repairs.length === 0) break;
      }
      if (allMatch || o.once || Date.now() + 2_000 > deadline) break;
      log(`verify: ${report.tables.filter((t) => !t.match).length} table(s) differ; comparing again`);
      await sleep(2_000);
      const existing = new Set(await admin.listTopics());
      report.sinkDrained = drained(
        await groupLag(
          admin,
          section.sink.groupId,
          topics.filter((t) => existing.has(t)),
        ),
      );
    }
    // The positions the captures committed to Kafka, for the report.
    const offsetsTopics = new Set(targets.map((x) => x.source.offsetsTopic));
    for (const topic of offsetsTopics) {
      const stored = await readPositions(kafka, admin, topic, 10_000).catch(() => new Map<string, unknown>());
      for (const x of targets) {
        const p = stored.get(`postgres/${x.source.name}`) as
          | { commitLsn?: string; endLsn?: string | null }
          | undefined;
        if (p)
          x.report.capturedPosition = `${x.report.capturedPosition ?? '-'} (slot); offsets topic: commit ${p.commitLsn}, end ${p.endLsn ?? '-'}`;
      }
    }
    report.ok = report.problems.length === 0 && report.tables.every((t) => t.match);
  } catch (err) {
    report.problems.push((err as Error).message);
  } finally {
    await reader?.close().catch(() => undefined);
    for (const x of targets) await x.client.end().catch(() => undefined);
    for (const x of mongoTargets) await x.client.close().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    report.elapsedMs = Date.now() - t0;
  }
  return report;
}

async function compareTable(
  source: string,
  t: SourceTable,
  chTable: string,
  client: pg.Client,
  reader: ClickHouseReader,
  database: string,
  rangeOptions?: Partial<RangeOptions>,
): Promise<TableReport> {
  const name = `${t.schema}.${t.table}`;
  const key = rangeKeyOf(t);
  // Ranges compare the source's own values in SQL: a table with transforms (a filter, masked or
  // renamed columns) is compared row by row, through the same transforms (transforms.ts).
  const transformed =
    t.where !== undefined || t.notes !== undefined || t.columns.some((c) => c.mask || c.replicaName);
  if (key !== undefined && !transformed) {
    const types = await replicaColumnTypes(reader, database, chTable);
    if (types.size > 0)
      return compareTableRanges(source, t, chTable, key, types, client, reader, database, rangeOptions);
  }
  const src = await readSourceRows(client, t);
  const replica = await readReplicaRows(reader, database, chTable, t);
  if (!replica.exists) {
    const empty = src.size === 0;
    return {
      source,
      table: name,
      clickhouseTable: `${database}.${chTable}_current`,
      sourceRows: src.size,
      clickhouseRows: 0,
      match: empty,
      note: empty ? 'empty at the source, no table in ClickHouse' : 'no such table in ClickHouse',
    };
  }
  const c = compareRows(
    t.columns.map((x) => x.name),
    src,
    replica.rows,
  );
  return {
    source,
    table: name,
    clickhouseTable: `${database}.${chTable}_current`,
    ...c,
    method: 'in-memory',
    ...(replica.missingColumns.length > 0 || t.notes
      ? {
          note: [
            ...(replica.missingColumns.length > 0
              ? [`columns missing in ClickHouse: ${replica.missingColumns.join(', ')}`]
              : []),
            ...(t.notes ?? []),
          ].join('; '),
        }
      : {}),
  };
}

/** Most ranges one repair asks for; beyond it a rebuild of the table is the better tool. */
const MAX_REPAIR_RANGES = 10_000;

/**
 * Writes a resync request per differing table into its source's WAL
 * (`pg_logical_emit_message(true, 'cdc.watermark.<source>', 'resync:{…}')`): the capture meets
 * it in commit order and re-reads those keys as an incremental snapshot (capture-postgres
 * `snapshot/incremental.ts`), deleting the keys only ClickHouse held if the source still lacks them.
 */
async function requestRepairs(targets: PgTarget[], report: VerifyReport, log: (l: string) => void) {
  for (const x of targets) {
    for (const t of report.tables) {
      if (t.match || t.source !== x.source.name) continue;
      if (!t.repair || t.repair.keys) {
        report.problems.push(
          `${t.table} differs and cannot be repaired by key ranges (it needs a one-column integer primary key): rebuild it with cdc rebuild or re-add it to the include list`,
        );
        continue;
      }
      if (t.repair.ranges.length > MAX_REPAIR_RANGES) {
        report.problems.push(
          `${t.table} has ${t.repair.ranges.length} differing key ranges, more than one repair re-reads (${MAX_REPAIR_RANGES}): rebuild the table instead`,
        );
        continue;
      }
      const absent = t.repair.onlyInClickHouse.map((k) => BigInt(k));
      const ranges = t.repair.ranges.map((r) => {
        const lo = BigInt(r.lo);
        const hi = BigInt(r.hi);
        return {
          from: [r.lo],
          to: [r.hi],
          absent: absent.filter((k) => k >= lo && k <= hi).map((k) => [String(k)]),
        };
      });
      // Several messages for many ranges: each is one WAL record.
      for (let i = 0; i < ranges.length; i += 500) {
        const body = JSON.stringify({ table: t.table, ranges: ranges.slice(i, i + 500) });
        await x.client.query('SELECT pg_logical_emit_message(true, $1, $2)', [
          `cdc.watermark.${x.source.name}`,
          `resync:${body}`,
        ]);
      }
      report.repairs.push({
        source: x.source.name,
        table: t.table,
        ranges: ranges.length,
        deletes: absent.length,
      });
      log(
        `verify: ${t.table}: asked the capture to re-read ${ranges.length} key range(s) (${absent.length} key(s) only in ClickHouse)`,
      );
    }
  }
}

/** A table with a one-column integer key: by key ranges, memory bounded (see range-verify.ts). */
export async function compareTableRanges(
  source: string,
  t: SourceTable,
  chTable: string,
  key: string,
  types: ReadonlyMap<string, string>,
  client: pg.Client,
  reader: ClickHouseReader,
  database: string,
  rangeOptions?: Partial<RangeOptions>,
): Promise<TableReport> {
  const t0 = Date.now();
  const hash = rowHashSql(t.columns, types);
  const [a, b] = await Promise.all([
    sourceKeyBounds(client, t, key),
    replicaKeyBounds(reader, database, chTable, key),
  ]);
  const bounds = unionBounds(a, b);
  const c = await compareRanges(
    t.columns.map((x) => x.name),
    bounds,
    sourceRangeSide(client, t, key, hash.ok ? hash.postgres : null),
    replicaRangeSide(reader, database, chTable, t, key, hash.ok ? hash.clickhouse : null),
    { ...rangeOptions, hashed: hash.ok },
  );
  const seconds = Math.max(0.001, (Date.now() - t0) / 1000);
  const notes: string[] = [];
  if (!hash.ok) notes.push(`rows compared in memory range by range: ${hash.reason}`);
  if (c.hashOnly > 0) notes.push(`${c.hashOnly} range(s) had different SQL checksums but equal rows`);
  if (c.keys.length < c.differing)
    notes.push(`only the first ${c.keys.length} differing keys are kept for a repair`);
  const missing = t.columns.filter((x) => !types.has(clickHouseColumnName(x.name))).map((x) => x.name);
  if (missing.length > 0) notes.push(`columns missing in ClickHouse: ${missing.join(', ')}`);
  return {
    source,
    table: `${t.schema}.${t.table}`,
    clickhouseTable: `${database}.${chTable}_current`,
    sourceRows: c.sourceRows,
    clickhouseRows: c.clickhouseRows,
    sourceChecksum: c.sourceChecksum,
    clickhouseChecksum: c.clickhouseChecksum,
    match: c.match,
    diffs: c.diffs,
    differing: c.differing,
    method: hash.ok ? 'ranges' : 'ranges-rows',
    ranges: c.ranges,
    rowsPerSecond: Math.round(c.sourceRows / seconds),
    ...(c.keys.length > 0
      ? {
          repair: {
            key,
            ranges: mergeRanges(c.keys.map((k) => ({ lo: k, hi: k }))).map((r) => ({
              lo: String(r.lo),
              hi: String(r.hi),
            })),
            onlyInClickHouse: c.onlyInClickHouse.map(String),
          },
        }
      : {}),
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
}

function unionBounds(
  a: { range: KeyRange; rows: number } | null,
  b: { range: KeyRange; rows: number } | null,
): { range: KeyRange; rows: number } | null {
  if (!a || !b) return a ?? b;
  return {
    range: {
      lo: [a.range.lo, b.range.lo].sort((x, y) => (x < y ? -1 : 1))[0] as bigint,
      hi: [a.range.hi, b.range.hi].sort((x, y) => (x > y ? -1 : 1))[0] as bigint,
    },
    rows: Math.max(a.rows, b.rows),
  };
}

/** Whether the group consumed every partition up to `at` (its end then; a commit marker may remain). */
function passed(lags: readonly PartitionLag[], at: ReadonlyMap<string, bigint>): boolean {
  return lags.every((l) => {
    const end = at.get(`${l.topic}/${l.partition}`) ?? 0n;
    return end === 0n || l.committed >= end - 1n;
  });
}

export function formatVerifyReport(r: VerifyReport): string {
  const lines: string[] = [];
  for (const s of r.sources) {
    lines.push(
      `source ${s.name} (${s.kind}): start ${s.startPosition ?? '-'}, captured ${s.capturedPosition ?? '-'}${s.caughtUp ? ' (caught up)' : ''}${s.note ? ` — ${s.note}` : ''}`,
    );
  }
  const w = Math.max(10, ...r.tables.map((t) => t.table.length));
  for (const t of r.tables) {
    const counts = `${t.sourceRows ?? '-'} / ${t.clickhouseRows ?? '-'} rows`;
    const sums = t.sourceChecksum
      ? `  checksum ${t.sourceChecksum}${t.match ? '' : ` / ${t.clickhouseChecksum}`}`
      : '';
    const how =
      t.ranges !== undefined
        ? `  ${t.ranges} range(s), ${t.rowsPerSecond ?? 0} rows/s${t.method === 'ranges-rows' ? ' (rows)' : ''}`
        : t.method === 'pages'
          ? `  ${t.rowsPerSecond ?? 0} rows/s by pages`
          : '';
    lines.push(
      `${t.match ? 'ok      ' : 'MISMATCH'} ${t.table.padEnd(w)}  ${counts}${sums}${how}${t.note ? `  (${t.note})` : ''}`,
    );
    if (!t.match && t.diffs) {
      for (const d of t.diffs)
        lines.push(
          `           key ${d.key}: source ${JSON.stringify(d.source)}  clickhouse ${JSON.stringify(d.clickhouse)}`,
        );
      if ((t.differing ?? 0) > t.diffs.length)
        lines.push(`           … ${(t.differing ?? 0) - t.diffs.length} more differing key(s)`);
    }
  }
  for (const x of r.repairs)
    lines.push(
      `repair   ${x.table}: ${x.ranges} ${x.kind === 'keys' ? 'key(s)' : 'key range(s)'} re-read through the capture, ${x.deletes} key(s) only in ClickHouse`,
    );
  for (const p of r.problems) lines.push(`problem: ${p}`);
  const bad = r.tables.filter((t) => !t.match).length;
  lines.push(
    r.ok
      ? `verify: OK — ${r.tables.length} table(s) match (${(r.elapsedMs / 1000).toFixed(1)} s, sink ${r.sinkDrained ? 'drained' : 'not drained'})`
      : `verify: FAILED — ${bad} of ${r.tables.length} table(s) differ${r.problems.length ? `, ${r.problems.length} problem(s)` : ''} (${(r.elapsedMs / 1000).toFixed(1)} s)`,
  );
  return `${lines.join('\n')}\n`;
}

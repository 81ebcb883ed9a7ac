/**
 * `cdc verify` for a MongoDB source: every captured collection's current documents against
 * ClickHouse's `<table>_current`, keyed by `_id` (canonical Extended JSON), in the report format
 * of PostgreSQL tables (counts, checksum, first differing keys with both sides' values).
 *
 * Progress: resume tokens are opaque, so there is no source position to wait for as with a WAL
 * LSN. The capture counts as caught up once its initial snapshot is complete in its offsets topic;
 * `verify` then waits for the sink to drain and compares again on a mismatch while time remains.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { ensureSignalTopic, sendSignal } from '@cdc/capture';
import type { ClickHouseReader } from '@cdc/clickhouse';
import { type Admin, createIdempotentProducer, type Kafka } from '@cdc/kafka';
import type { MongoSource, Pipeline } from '@cdc/pipeline';
import type { Document, MongoClient } from 'mongodb';
import { readPositions } from '../kafka-progress.ts';
import { tableFor } from '../topics.ts';
import { PagedComparison, type Rows } from './compare.ts';
import {
  capturedCollections,
  collectionShape,
  connectMongo,
  documentPages,
  existingKeys,
  keysFilter,
  type MongoCollection,
  openMongoReplica,
  storedSchemaState,
} from './mongo-side.ts';
import type { SourceReport, TableReport, VerifyReport } from './report.ts';

export interface MongoTarget {
  source: MongoSource;
  client: MongoClient;
  collections: (MongoCollection & { chTable: string })[];
  report: SourceReport;
}

export async function openMongoTarget(
  source: MongoSource,
  admin: Admin,
  pipeline: Pipeline,
): Promise<MongoTarget> {
  const client = await connectMongo(source);
  try {
    const ping = (await client.db('admin').command({ ping: 1 })) as {
      operationTime?: { t: number; i: number };
    };
    const collections = (await capturedCollections(client, source, await admin.listTopics())).map((c) => ({
      ...c,
      chTable: tableFor(pipeline, c.topic),
    }));
    const report: SourceReport = {
      name: source.name,
      kind: 'mongo',
      startPosition: ping.operationTime
        ? `operationTime ${ping.operationTime.t}.${ping.operationTime.i}`
        : null,
      capturedPosition: null,
      caughtUp: false,
    };
    return { source, client, collections, report };
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
}

interface StoredPosition {
  snapshot?: { complete?: boolean; done?: string[]; collections?: string[] } | null;
  streams?: Record<string, { clusterTime?: { t: number; i: number } | null }>;
}

/** What the capture committed: whether its snapshot is complete, its latest event time. */
export function describePosition(stored: unknown): { text: string; snapshotComplete: boolean } | undefined {
  const p = stored as StoredPosition | undefined;
  if (!p) return undefined;
  let latest: { t: number; i: number } | undefined;
  for (const s of Object.values(p.streams ?? {})) {
    const c = s.clusterTime;
    if (c && (!latest || c.t > latest.t || (c.t === latest.t && c.i > latest.i))) latest = c;
  }
  const snap = p.snapshot;
  const snapshotComplete = !snap || snap.complete === true;
  const snapText = snap
    ? snapshotComplete
      ? 'snapshot complete'
      : `snapshot ${snap.done?.length ?? 0}/${snap.collections?.length ?? 0}`
    : 'no snapshot';
  return {
    text: `${snapText}, last event ${latest ? `${latest.t}.${latest.i}` : '-'}`,
    snapshotComplete,
  };
}

/** One comparison of every collection of the targets. */
export async function compareMongoTargets(
  targets: readonly MongoTarget[],
  kafka: Kafka,
  admin: Admin,
  reader: ClickHouseReader,
  database: string,
  /** Documents read per second at most (`--rows-per-second`, continuous mode); unlimited when absent. */
  rowsPerSecond?: number,
  /** Collections not compared this time (by source name and `db.collection`: they matched before). */
  skip?: (source: string, table: string) => boolean,
  /** A collection's report that `--repair` acted on: only its repaired keys are compared again. */
  repaired?: (source: string, table: string) => TableReport | undefined,
): Promise<TableReport[]> {
  const out: TableReport[] = [];
  const byTopic = new Map<string, Map<string, unknown>>();
  for (const x of targets) {
    let positions = byTopic.get(x.source.offsetsTopic);
    if (!positions) {
      positions = await readPositions(kafka, admin, x.source.offsetsTopic, 15_000).catch(
        () => new Map<string, unknown>(),
      );
      byTopic.set(x.source.offsetsTopic, positions);
    }
    const pos = describePosition(positions.get(`mongo/${x.source.name}`));
    x.report.capturedPosition = pos?.text ?? null;
    x.report.caughtUp = pos?.snapshotComplete ?? false;
    for (const c of x.collections) {
      const table = `${c.db}.${c.collection}`;
      if (skip?.(x.source.name, table)) continue;
      const state = storedSchemaState(positions, x.source, c);
      const before = repaired?.(x.source.name, table);
      const again = before
        ? await compareRepairedKeys(x, c, state, reader, database, new Pace(rowsPerSecond), before)
        : undefined;
      out.push(again ?? (await compareCollection(x, c, state, reader, database, new Pace(rowsPerSecond))));
    }
  }
  return out;
}

/** Documents compared per page (and ClickHouse rows read per page). */
export const MONGO_PAGE_ROWS = 5_000;

/**
 * A rows-per-second budget: `took(n)` sleeps as long as the rows read so far are ahead of it.
 * Paced, a page holds a tenth of a second's budget (at least 200 documents), so that each
 * read of either database is short and the pipeline's own work runs between them.
 */
export class Pace {
  private readonly t0 = Date.now();
  private rows = 0;
  readonly pageRows: number;
  readonly rowsPerSecond: number | undefined;

  constructor(rowsPerSecond?: number) {
    this.rowsPerSecond = rowsPerSecond;
    this.pageRows = rowsPerSecond
      ? Math.min(MONGO_PAGE_ROWS, Math.max(200, Math.floor(rowsPerSecond / 10)))
      : MONGO_PAGE_ROWS;
  }

  async took(rows: number): Promise<void> {
    if (!this.rowsPerSecond) return;
    this.rows += rows;
    const due = (this.rows / this.rowsPerSecond) * 1000 - (Date.now() - this.t0);
    if (due > 0) await sleep(due);
  }
}

/** One collection, page by page (memory bounded), at `pace`. */
export async function compareCollection(
  x: MongoTarget,
  c: MongoCollection & { chTable: string },
  state: unknown,
  reader: ClickHouseReader,
  database: string,
  pace: Pace,
): Promise<TableReport> {
  const pageRows = pace.pageRows;
  const name = `${c.db}.${c.collection}`;
  const clickhouseTable = `${database}.${c.chTable}_current`;
  const t0 = Date.now();
  const shape = await collectionShape(x.client, c, state, pace);
  const replica = await openMongoReplica(reader, database, c.chTable, shape.columns);
  const notes: string[] = [];
  if (shape.unrepresentable.size > 0)
    notes.push(`${shape.unrepresentable.size} document(s) the capture cannot represent (dead-lettered)`);
  const columns = shape.columns.map((col) => col.name);
  const sum = new PagedComparison(columns, 5, MAX_REPAIR_KEYS + 1);
  if (!replica) {
    for await (const page of documentPages(x.client, c, pageRows)) {
      sum.add(rowsOf(shape, page), new Map());
      await pace.took(page.length);
    }
    const empty = sum.result.sourceRows === 0;
    return {
      source: x.source.name,
      table: name,
      clickhouseTable,
      sourceRows: sum.result.sourceRows,
      clickhouseRows: 0,
      match: empty,
      note: [
        empty ? 'empty at the source, no table in ClickHouse' : 'no such table in ClickHouse',
        ...notes,
      ].join('; '),
    };
  }
  if (replica.missingColumns.length > 0)
    notes.push(`columns missing in ClickHouse: ${replica.missingColumns.join(', ')}`);
  if (replica.typeChanged.length > 0) notes.push(`column types differ: ${replica.typeChanged.join(', ')}`);
  // Every document against the row of its key.
  let found = 0;
  for await (const page of documentPages(x.client, c, pageRows)) {
    const expected = rowsOf(shape, page);
    const rows = await replica.rowsOf([...expected.keys()]);
    found += rows.size;
    sum.add(expected, rows);
    await pace.took(page.length);
  }
  // Rows only ClickHouse has: its keys paged, each page checked against the collection.
  if ((await replica.count()) > found) {
    let after: string | null = null;
    for (;;) {
      const { rows, last } = await replica.rowsAfter(after, pageRows);
      if (last === null) break;
      const known = await existingKeys(x.client, c, [...rows.keys()]);
      const extra: Rows = new Map([...rows].filter(([k]) => !known.has(k) && !shape.unrepresentable.has(k)));
      if (extra.size > 0) sum.add(new Map(), extra);
      after = last;
      await pace.took(rows.size);
    }
  }
  const seconds = Math.max(0.001, (Date.now() - t0) / 1000);
  return {
    source: x.source.name,
    table: name,
    clickhouseTable,
    ...sum.result,
    method: 'pages',
    rowsPerSecond: Math.round(sum.result.sourceRows / seconds),
    ...repairOf(sum),
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
}

/**
 * After `--repair`: the repaired documents only, against their rows in ClickHouse (the rest of the
 * collection matched in the comparison that named them), so that verifying a repair of a few
 * documents does not read a large collection twice more. The capture's stored schema, widened by
 * these documents, gives the columns. Undefined when the first comparison named fewer keys than
 * differed (the whole collection is compared again).
 */
export async function compareRepairedKeys(
  x: MongoTarget,
  c: MongoCollection & { chTable: string },
  state: unknown,
  reader: ClickHouseReader,
  database: string,
  pace: Pace,
  before: TableReport,
): Promise<TableReport | undefined> {
  const r = before.repair;
  const keys = r?.keys;
  if (!r || !keys || keys.length === 0 || (before.differing ?? 0) > keys.length) return undefined;
  const clickhouseTable = `${database}.${c.chTable}_current`;
  const shape = await collectionShape(x.client, c, state, pace, keysFilter(keys));
  const replica = await openMongoReplica(reader, database, c.chTable, shape.columns);
  if (!replica || replica.missingColumns.length > 0 || replica.typeChanged.length > 0) return undefined;
  const sum = new PagedComparison(
    shape.columns.map((col) => col.name),
    5,
    keys.length,
  );
  const atSource = new Set<string>();
  for await (const page of documentPages(x.client, c, pace.pageRows, keysFilter(keys))) {
    const expected = rowsOf(shape, page);
    for (const k of expected.keys()) atSource.add(k);
    sum.add(expected, await replica.rowsOf([...expected.keys()]));
    await pace.took(page.length);
  }
  // Keys the collection does not hold (any more): their rows in ClickHouse are extra.
  const gone = keys.filter((k) => !atSource.has(k) && !shape.unrepresentable.has(k));
  if (gone.length > 0) sum.add(new Map(), await replica.rowsOf(gone));
  const now = sum.result;
  // Counts: the collection's before, with the repaired keys' rows as they are now.
  const sourceBefore = keys.length - r.onlyInClickHouse.length;
  const clickhouseBefore = keys.length - (r.onlyAtSource?.length ?? 0);
  const {
    sourceChecksum: _s,
    clickhouseChecksum: _c,
    repair: _r,
    note: _n,
    rowsPerSecond: _p,
    ...rest
  } = before;
  return {
    ...rest,
    clickhouseTable,
    sourceRows: (before.sourceRows ?? 0) - sourceBefore + now.sourceRows,
    clickhouseRows: (before.clickhouseRows ?? 0) - clickhouseBefore + now.clickhouseRows,
    match: now.match,
    diffs: now.diffs,
    differing: now.differing,
    reverified: keys.length,
    ...repairOf(sum),
    note: `compared again: the ${keys.length} repaired document(s) only (the rest matched before the repair)`,
  };
}

/** What `--repair` re-reads of a collection: the differing `_id`s a comparison named (none: nothing). */
function repairOf(sum: PagedComparison): Pick<TableReport, 'repair'> {
  if (sum.keys.length === 0) return {};
  return {
    repair: {
      key: '_id',
      ranges: [],
      keys: sum.keys,
      onlyInClickHouse: sum.onlyInClickHouse,
      onlyAtSource: sum.onlyAtSource,
    },
  };
}

/** Most keys one repair re-reads; beyond it a rebuild of the table is the better tool. */
export const MAX_REPAIR_KEYS = 10_000;
/** Keys per resync signal (a signal is one Kafka record). */
const KEYS_PER_SIGNAL = 500;

/**
 * `--repair` of MongoDB collections: a resync signal per 500 differing keys on the pipeline's
 * signal topic. The capture re-reads each `_id` between two change events and writes it into the
 * collection's topic like any change, a delete when the collection no longer holds it
 * (capture-mongo `streaming/resync.ts`), so the fix reaches ClickHouse through Kafka and the sink.
 */
export async function requestMongoRepairs(
  targets: readonly MongoTarget[],
  kafka: Kafka,
  admin: Admin,
  signalTopic: string,
  report: VerifyReport,
  log: (l: string) => void,
): Promise<void> {
  const todo: { x: MongoTarget; t: TableReport; keys: string[] }[] = [];
  for (const x of targets) {
    for (const t of report.tables) {
      if (t.match || t.source !== x.source.name) continue;
      const keys = t.repair?.keys;
      if (!keys || keys.length === 0) {
        report.problems.push(
          `${t.table} differs but no differing document was named (${t.note ?? 'counts or checksums only'}): resync the collection with the control API or rebuild it`,
        );
        continue;
      }
      if (keys.length > MAX_REPAIR_KEYS) {
        report.problems.push(
          `${t.table} has more than ${MAX_REPAIR_KEYS} differing documents, more than one repair re-reads: resync the whole collection (POST /api/tables/${x.source.name}/${t.table}/resync) or rebuild it`,
        );
        continue;
      }
      todo.push({ x, t, keys });
    }
  }
  if (todo.length === 0) return;
  await ensureSignalTopic(admin, signalTopic);
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    for (const { x, t, keys } of todo) {
      for (let i = 0; i < keys.length; i += KEYS_PER_SIGNAL)
        await sendSignal(producer, signalTopic, {
          type: 'resync',
          source: x.source.name,
          table: t.table,
          keys: keys.slice(i, i + KEYS_PER_SIGNAL).map((k) => [k]),
          actor: 'cdc verify --repair',
        });
      const deletes = t.repair?.onlyInClickHouse.length ?? 0;
      report.repairs.push({
        source: x.source.name,
        table: t.table,
        ranges: keys.length,
        deletes,
        kind: 'keys',
      });
      log(
        `verify: ${t.table}: asked the capture to re-read ${keys.length} document(s) (${deletes} key(s) only in ClickHouse)`,
      );
    }
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

function rowsOf(shape: Awaited<ReturnType<typeof collectionShape>>, page: readonly Document[]): Rows {
  const rows: Rows = new Map();
  for (const d of page) {
    const r = shape.rowOf(d);
    if (r) rows.set(r[0], r[1]);
  }
  return rows;
}

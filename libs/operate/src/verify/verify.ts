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
 * read in one REPEATABLE READ snapshot per attempt; a table keyed by integer, uuid and text
 * columns by key ranges checksummed in both databases, memory bounded; others whole
 * (table-compare.ts). A source that keeps changing can still differ at the moment of reading: a
 * table that differs is compared again until the time is up (a table that matched is not).
 * `--repair` then compares only the repaired keys again (repair.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClickHouseReader, openReader } from '@cdc/clickhouse';
import { createJsonLogger, type LsnText, parseLsn } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { loadPipeline, type PostgresSource } from '@cdc/pipeline';
import type pg from 'pg';
import { drained, groupLag, type PartitionLag, readPositions } from '../kafka-progress.ts';
import { availability } from '../services.ts';
import { tableFor, topicFor } from '../topics.ts';
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
  type SourceTable,
  slotConfirmedLsn,
} from './postgres-side.ts';
import type { RangeOptions } from './range-verify.ts';
import { requestRepairs, reverifyRepaired } from './repair.ts';
import type { SourceReport, TableReport, VerifyReport } from './report.ts';
import { compareTable } from './table-compare.ts';
import { applyTransforms } from './transforms.ts';

export type { RepairRequest, SourceReport, TableReport, VerifyReport } from './report.ts';
export { formatVerifyReport } from './report.ts';

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

interface PgTarget {
  source: PostgresSource;
  client: pg.Client;
  tables: { t: SourceTable; topic: string; chTable: string }[];
  report: SourceReport;
  /** The WAL position of the snapshot the next comparison reads (its first statement's). */
  position: string;
}

/**
 * Opens the REPEATABLE READ snapshot that one comparison of a source reads, and returns its
 * position: the WAL insert position read by the statement that takes the snapshot. A transaction
 * committed before it is in the snapshot (its commit record, and so its change ids' commit LSN,
 * lies before that position); the pipeline is then awaited to that position, and ClickHouse rows
 * changed after it are compared as of it (`asOfVersion`).
 */
async function openSnapshot(client: pg.Client): Promise<string> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  return currentLsn(client);
}

/**
 * The sink's `_version` below which a native-envelope change committed before `lsn`
 * (`postgresVersionOf`: commit LSN · 2^33 + …); undefined for Debezium's envelope, whose versions
 * are not commit positions.
 */
export function asOfVersion(source: PostgresSource, lsn: string): bigint | undefined {
  return source.envelope === 'debezium' ? undefined : parseLsn(lsn as LsnText) << 33n;
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
      // The first comparison's snapshot, open from here on (catalog reads below run in it too).
      const start = await openSnapshot(client);
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
      targets.push({ source, client, tables, report: r, position: start });
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
    // 1. Wait for the capture to reach each snapshot's position and the sink to pass it: to
    // consume what the topics held once the capture had reached it (not to drain them: a source
    // that keeps changing keeps them growing).
    const awaitPipeline = async (idleMs: number) => {
      const began = Date.now();
      let lastNote = 0;
      let passAt: Map<string, bigint> | undefined;
      for (const x of targets) x.report.caughtUp = false;
      for (;;) {
        const existing = new Set(await admin.listTopics());
        for (const x of targets) {
          if (x.report.caughtUp) continue;
          const confirmed = await slotConfirmedLsn(x.client, x.source.slot);
          x.report.capturedPosition = confirmed;
          x.report.caughtUp =
            confirmed !== null && parseLsn(confirmed as LsnText) >= parseLsn(x.position as LsnText);
        }
        const lags = await groupLag(
          admin,
          section.sink.groupId,
          topics.filter((t) => existing.has(t)),
        );
        report.sinkDrained = drained(lags);
        const caughtUp = targets.every((x) => x.report.caughtUp);
        if (caughtUp && !passAt) passAt = new Map(lags.map((l) => [`${l.topic}/${l.partition}`, l.end]));
        if (caughtUp && (report.sinkDrained || (passAt && passed(lags, passAt)))) return;
        if (Date.now() > deadline) return;
        if (Date.now() - lastNote > 5_000) {
          lastNote = Date.now();
          const behind = lags.reduce((a, l) => a + l.lag, 0n);
          log(
            `verify: waiting for the pipeline: ${targets
              .map(
                (x) =>
                  `${x.source.name} captured ${x.report.capturedPosition ?? 'nothing'} / snapshot ${x.position}`,
              )
              .join(', ')}; sink lag ${behind}`,
          );
        }
        // The capture confirms an idle position only on a keepalive: once the sink is drained, compare anyway.
        if (report.sinkDrained && Date.now() - began > idleMs) return;
        await sleep(500);
      }
    };
    await awaitPipeline(5_000);
    // 2. Compare; on a mismatch compare again while time remains (the source may still be moving).
    // A table that matched keeps its result; after `--repair` a repaired table is compared on
    // its repaired keys only (the rest of it matched in the comparison that found them).
    const id = (source: string, table: string) => `${source}\u0000${table}`;
    let repairedFrom = new Map<string, TableReport>();
    for (;;) {
      report.attempts++;
      const before = new Map(report.tables.map((t) => [id(t.source, t.table), t]));
      report.tables = [];
      for (const x of targets) {
        // One snapshot of the source for all its tables (opened before the pipeline was awaited).
        const version = asOfVersion(x.source, x.position);
        try {
          for (const { t, chTable } of x.tables) {
            const key = id(x.source.name, `${t.schema}.${t.table}`);
            const prev = before.get(key);
            if (prev?.match) {
              report.tables.push(prev);
              continue;
            }
            const repaired = repairedFrom.get(key);
            const again = repaired
              ? await reverifyRepaired(
                  repaired,
                  t,
                  chTable,
                  x.client,
                  reader,
                  section.database,
                  o.ranges?.maxDiffs,
                )
              : undefined;
            report.tables.push(
              again ??
                (await compareTable(
                  x.source.name,
                  t,
                  chTable,
                  x.client,
                  reader,
                  section.database,
                  o.ranges,
                  version,
                )),
            );
          }
        } finally {
          await x.client.query('COMMIT').catch(() => undefined);
        }
      }
      const matched = new Set<string>();
      for (const x of mongoTargets)
        for (const c of x.collections) {
          const prev = before.get(id(x.source.name, `${c.db}.${c.collection}`));
          if (prev?.match) {
            matched.add(id(x.source.name, `${c.db}.${c.collection}`));
            report.tables.push(prev);
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
          (source, table) => matched.has(id(source, table)),
          (source, table) => repairedFrom.get(id(source, table)),
        )),
      );
      const allMatch = report.tables.every((t) => t.match);
      if (!allMatch && o.repair && report.repairs.length === 0) {
        for (const x of targets) await requestRepairs(x.source.name, x.client, report, log);
        await requestMongoRepairs(mongoTargets, kafka, admin, pipeline.control.signalTopic, report, log);
        if (report.repairs.length === 0) break;
        const asked = new Set(report.repairs.map((r) => id(r.source, r.table)));
        repairedFrom = new Map(
          report.tables
            .filter((t) => asked.has(id(t.source, t.table)))
            .map((t) => [id(t.source, t.table), t]),
        );
      }
      if (allMatch || o.once || Date.now() + 2_000 > deadline) break;
      log(`verify: ${report.tables.filter((t) => !t.match).length} table(s) differ; comparing again`);
      await sleep(2_000);
      // A new snapshot of each source, and the pipeline awaited to it.
      for (const x of targets) x.position = await openSnapshot(x.client);
      await awaitPipeline(2_000);
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

/** Whether the group consumed every partition up to `at` (its end then; a commit marker may remain). */
function passed(lags: readonly PartitionLag[], at: ReadonlyMap<string, bigint>): boolean {
  return lags.every((l) => {
    const end = at.get(`${l.topic}/${l.partition}`) ?? 0n;
    return end === 0n || l.committed >= end - 1n;
  });
}

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
 * consumer group drained on the tables' topics. A source that keeps changing can still differ
 * at the moment of reading: a mismatch is compared again until the time is up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createJsonLogger, type LsnText, parseLsn } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { loadPipeline, type PostgresSource } from '@cdc/pipeline';
import type pg from 'pg';
import { type ClickHouseReader, openReader } from '../clickhouse-target.ts';
import { drained, groupLag, readPositions } from '../kafka-progress.ts';
import { availability } from '../services.ts';
import { tableFor, topicFor } from '../topics.ts';
import { readReplicaRows } from './clickhouse-side.ts';
import { compareRows, type TableComparison } from './compare.ts';
import { compareMongoTargets, type MongoTarget, openMongoTarget } from './mongo-verify.ts';
import {
  capturedTables,
  connectSource,
  currentLsn,
  describeTable,
  readSourceRows,
  type SourceTable,
  slotConfirmedLsn,
} from './postgres-side.ts';
import { applyTransforms } from './transforms.ts';

export interface VerifyOptions {
  config: string;
  timeoutMs: number;
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
    reader = await openReader(section);
    const topics = [
      ...targets.flatMap((x) => x.tables.map((t) => t.topic)),
      ...mongoTargets.flatMap((x) => x.collections.map((c) => c.topic)),
    ];
    // 1. Wait for the capture to reach the start position and the sink to drain.
    let lastNote = 0;
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
      if (targets.every((x) => x.report.caughtUp) && report.sinkDrained) break;
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
        for (const { t, chTable } of x.tables) {
          report.tables.push(
            await compareTable(x.source.name, t, chTable, x.client, reader, section.database),
          );
        }
      }
      report.tables.push(
        ...(await compareMongoTargets(mongoTargets, kafka, admin, reader, section.database)),
      );
      const allMatch = report.tables.every((t) => t.match);
      if (allMatch || Date.now() + 2_000 > deadline) break;
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
): Promise<TableReport> {
  const name = `${t.schema}.${t.table}`;
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
    lines.push(
      `${t.match ? 'ok      ' : 'MISMATCH'} ${t.table.padEnd(w)}  ${counts}${sums}${t.note ? `  (${t.note})` : ''}`,
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
  for (const p of r.problems) lines.push(`problem: ${p}`);
  const bad = r.tables.filter((t) => !t.match).length;
  lines.push(
    r.ok
      ? `verify: OK — ${r.tables.length} table(s) match (${(r.elapsedMs / 1000).toFixed(1)} s, sink ${r.sinkDrained ? 'drained' : 'not drained'})`
      : `verify: FAILED — ${bad} of ${r.tables.length} table(s) differ${r.problems.length ? `, ${r.problems.length} problem(s)` : ''} (${(r.elapsedMs / 1000).toFixed(1)} s)`,
  );
  return `${lines.join('\n')}\n`;
}

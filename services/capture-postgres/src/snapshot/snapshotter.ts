/**
 * The first Kafka transaction of the initial snapshot, consistent with the slot. With
 * `chunkKeyedTables` (every mode but `initial_only`) it reads only the tables without a key and
 * lists the keyed ones in the position's `snapshot.chunked`: the streamer reads those in chunks,
 * each chunk its own Kafka transaction (`incremental.ts`, `chunk-reader.ts`). What follows
 * describes the tables read here: the slot is created with an exported
 * snapshot, and `parallelism` reader connections import it (REPEATABLE READ, `SET TRANSACTION
 * SNAPSHOT`) and read the tables in parallel. A table whose primary key is one integer column
 * is split into key ranges read at the same time; every range is read through a cursor in
 * chunks of at most `chunkRows` (fewer for large rows: about 32 MiB of records per read), so
 * memory stays bounded. Progress (rows done / estimated, per table)
 * is logged and kept in `progress`.
 *
 * The whole snapshot is ONE Kafka transaction (many produce requests, committed once with the
 * position): a crash mid-snapshot aborts it, a read_committed consumer sees none of its rows,
 * and the restarted capture drops the half-used slot and starts a fresh snapshot. No
 * duplicates reach consumers; the price is that the snapshot must finish within
 * `transactionTimeoutMs` (the broker's `transaction.max.timeout.ms`, 15 min by default).
 * Rows carry `op: 'r'` and `snapshotChangeId(snapshot, table, key)` as change id.
 */
import { type PgTextValue, pgKeyFromRow, pgRowFromText } from '@cdc/avro';
import {
  type CaptureObserver,
  type ChangeWriter,
  countByTopic,
  deadLetterRecord,
  deadLetterTopic,
  noopObserver,
  type OffsetsStore,
  type OutRecord,
  type TopicSchemas,
  type WriteScope,
  withHeaders,
} from '@cdc/capture';
import type { Clock, Logger } from '@cdc/core';
import type { RecordHeaders } from '@cdc/telemetry';
import pg from 'pg';
import { captureId, type StoredPosition } from '../positions.ts';
import type { CapturedTable } from '../relations.ts';
import { qualified } from '../slot.ts';
import { recordTooLarge, type TableRoute } from '../streaming/change-records.ts';
import type { TableTransforms } from '../streaming/table-transforms.ts';
import { snapshotIdsFor } from './snapshot-ids.ts';
import { describeTable } from './table-route.ts';

/** Rows of a table's first read. */
const FIRST_FETCH_ROWS = 100;
/** Bytes of records a later read aims at. */
const FETCH_BYTES = 32 * 1024 * 1024;

export interface SnapshotOptions {
  name: string;
  db: string;
  prefix: string;
  slot: string;
  connection: pg.ClientConfig;
  snapshotName: string;
  consistentPoint: string;
  tables: readonly string[];
  parallelism: number;
  chunkRows: number;
  /**
   * Tables with a primary key (or key index) are not read here but listed in the position's
   * `snapshot.chunked`: the streamer reads them in chunks, each in its own Kafka transaction.
   */
  chunkKeyedTables?: boolean;
  /** A row whose record is larger is dead-lettered (default: no limit). */
  maxRecordBytes?: number;
  writer: ChangeWriter;
  offsets: OffsetsStore;
  topics: TopicSchemas;
  /** The tables' transforms and quality rules (every row passes its table's gate). */
  transforms: TableTransforms;
  observer?: CaptureObserver;
  logger: Logger;
  clock: Clock;
}

export interface TableProgress {
  table: string;
  rowsDone: number;
  rowsEstimated: number;
  done: boolean;
}

interface Unit {
  route: TableRoute;
  progress: TableProgress;
  where: string;
  params: unknown[];
}

/** Every value in PostgreSQL's text form, as pgoutput sends it. */
const textTypes = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

export class Snapshotter {
  private readonly o: SnapshotOptions;
  readonly progress = new Map<string, TableProgress>();

  constructor(options: SnapshotOptions) {
    this.o = options;
  }

  private async reader(): Promise<pg.Client> {
    const client = new pg.Client(this.o.connection);
    client.on('error', () => undefined);
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET TRANSACTION SNAPSHOT '${this.o.snapshotName.replaceAll("'", "''")}'`);
    return client;
  }

  /** Reads every table and commits the rows with the position; returns that position. */
  async run(): Promise<StoredPosition> {
    const { logger, writer, offsets } = this.o;
    const readers: pg.Client[] = [];
    const started = this.o.clock.now();
    try {
      for (let i = 0; i < Math.max(1, this.o.parallelism); i++) readers.push(await this.reader());
      const chunked: string[] = [];
      const units = await this.plan(readers[0]!, chunked);
      logger.info('snapshot started', {
        snapshot: this.o.snapshotName,
        consistentPoint: this.o.consistentPoint,
        tables: this.o.tables.length,
        units: units.length,
        parallelism: readers.length,
      });
      const position: StoredPosition = {
        kind: 'postgres',
        slot: this.o.slot,
        commitLsn: this.o.consistentPoint,
        index: -1,
        complete: false,
        endLsn: null,
        txId: null,
        tsUsec: this.o.clock.now() * 1000,
        snapshot: {
          id: this.o.snapshotName,
          consistentPoint: this.o.consistentPoint,
          tables: this.o.tables.filter((t) => !chunked.includes(t)),
          ...(this.o.chunkKeyedTables ? { chunked } : {}),
        },
      };
      const timer = setInterval(() => this.logProgress(), 5_000);
      timer.unref();
      const observer = this.o.observer ?? noopObserver;
      const written = new Map<string, number>();
      try {
        await observer.transaction('capture.snapshot', (headers) =>
          writer.transaction(async (scope) => {
            const serial = serialSender(scope, headers, (records) => countByTopic(records, written));
            let next = 0;
            await Promise.all(
              readers.map(async (client, w) => {
                for (let u = next++; u < units.length; u = next++)
                  await this.readUnit(client, units[u]!, serial, w);
              }),
            );
            await serial.drain();
            return offsets.positionRecord(captureId(this.o.name), position);
          }),
        );
      } catch (err) {
        observer.aborted();
        throw err;
      } finally {
        clearInterval(timer);
      }
      observer.committed(written, null);
      this.logProgress();
      for (const p of this.progress.values()) p.done = true;
      const rows = [...this.progress.values()].reduce((n, p) => n + p.rowsDone, 0);
      const seconds = (this.o.clock.now() - started) / 1000;
      logger.info('snapshot committed', {
        rows,
        seconds,
        rowsPerSecond: Math.round(rows / Math.max(seconds, 0.001)),
        tables: [...this.progress.values()].map((p) => `${p.table}: ${p.rowsDone}`),
      });
      return position;
    } finally {
      for (const r of readers) await r.end().catch(() => undefined);
    }
  }

  private logProgress(): void {
    for (const p of this.progress.values()) {
      this.o.observer?.snapshotProgress(p.table, p.rowsDone, p.rowsEstimated);
      if (p.done) continue;
      this.o.logger.info('snapshot progress', {
        table: p.table,
        rowsDone: p.rowsDone,
        rowsEstimated: p.rowsEstimated,
        percent: p.rowsEstimated > 0 ? Math.min(100, Math.round((100 * p.rowsDone) / p.rowsEstimated)) : null,
      });
    }
  }

  /** Describes every table and splits the large ones with a single integer key into ranges. */
  private async plan(client: pg.Client, chunked: string[]): Promise<Unit[]> {
    const units: Unit[] = [];
    for (const name of this.o.tables) {
      const described = await describeTable(
        client,
        name,
        this.o.prefix,
        this.o.db,
        this.o.topics,
        this.o.transforms,
      );
      if (!described) continue;
      const { route, estimate } = described;
      const { captured } = route;
      if (this.o.chunkKeyedTables && captured.hasKey) {
        chunked.push(name);
        continue;
      }
      const progress: TableProgress = { table: name, rowsDone: 0, rowsEstimated: estimate, done: false };
      this.progress.set(name, progress);
      const keyCols = captured.rowSchema.columns.filter((c) => c.column.isKey);
      const intKey =
        keyCols.length === 1 && ['int2', 'int4', 'int8'].includes(keyCols[0]!.column.type.name)
          ? keyCols[0]
          : undefined;
      if (intKey && this.o.parallelism > 1 && estimate > this.o.chunkRows * 2) {
        const col = `"${intKey.column.name.replaceAll('"', '""')}"`;
        const { rows: mm } = await client.query<{ lo: string | null; hi: string | null }>(
          `SELECT min(${col})::text AS lo, max(${col})::text AS hi FROM ${qualified(name)}`,
        );
        const lo = mm[0]?.lo == null ? null : BigInt(mm[0].lo);
        const hi = mm[0]?.hi == null ? null : BigInt(mm[0].hi);
        if (lo !== null && hi !== null) {
          const parts = BigInt(this.o.parallelism * 2);
          const step = (hi - lo) / parts + 1n;
          for (let start = lo; start <= hi; start += step) {
            units.push({
              route,
              progress,
              where: `WHERE ${col} >= $1::int8 AND ${col} < $2::int8`,
              params: [String(start), String(start + step)],
            });
          }
          continue;
        }
      }
      units.push({ route, progress, where: '', params: [] });
    }
    return units;
  }

  private async readUnit(client: pg.Client, unit: Unit, send: SerialSender, worker: number): Promise<void> {
    const { route, progress } = unit;
    const rs = route.captured.rowSchema;
    const cols = rs.columns.map((c) => `"${c.column.name.replaceAll('"', '""')}"`).join(', ');
    const table = `${route.captured.schema}.${route.captured.table}`;
    const cursor = `cdc_snapshot_${worker}`;
    const ids = snapshotIdsFor(this.o.snapshotName, table);
    await client.query(
      `DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT ${cols} FROM ${qualified(table)} ${unit.where}`,
      unit.params,
    );
    try {
      // The first read is small; later ones hold about FETCH_BYTES of records (at most
      // chunkRows rows), so a table of large rows does not fill the memory.
      let fetchRows = Math.min(this.o.chunkRows, FIRST_FETCH_ROWS);
      for (;;) {
        const { rows } = await client.query<PgTextValue[]>({
          text: `FETCH ${fetchRows} FROM ${cursor}`,
          rowMode: 'array',
          types: textTypes,
        });
        if (rows.length === 0) break;
        const records: OutRecord[] = [];
        const now = this.o.clock.now();
        let bytes = 0;
        for (let i = 0; i < rows.length; i++) {
          const r = this.record(route.captured, route, rows[i]!, ids, now);
          if (r === null) continue;
          records.push(r);
          bytes += r.value?.length ?? 0;
        }
        await send.send(records);
        progress.rowsDone += rows.length;
        if (rows.length < fetchRows) break;
        const perRow = Math.max(1, bytes / rows.length);
        fetchRows = Math.max(1, Math.min(this.o.chunkRows, Math.floor(FETCH_BYTES / perRow)));
      }
    } finally {
      await client.query(`CLOSE ${cursor}`);
    }
  }

  private record(
    captured: CapturedTable,
    route: TableRoute,
    values: PgTextValue[],
    ids: (key: unknown) => string,
    now: number,
  ): OutRecord | null {
    const rs = captured.rowSchema;
    const row = pgRowFromText(rs, values);
    const key = captured.hasKey ? pgKeyFromRow(rs, row) : null;
    const { prepared } = route;
    const gated = this.o.transforms.apply(route.transform, row, key);
    if (gated.kind === 'filtered') return null;
    if (gated.kind === 'quarantine')
      return this.o.transforms.quarantine(
        route.transform,
        prepared.topic,
        key,
        'r',
        ids(key ?? values),
        gated,
        now,
      );
    const after = gated.row;
    const value = prepared.valueWriter.encode(
      {
        before: null,
        after,
        source: {
          connector: 'postgresql',
          name: this.o.name,
          db: this.o.db,
          schema: captured.schema,
          table: captured.table,
          lsn: this.o.consistentPoint,
          commitLsn: this.o.consistentPoint,
          txId: null,
          tsMs: now,
          snapshot: 'true',
        },
        op: 'r',
        tsMs: now,
        changeId: ids(key ?? values),
      },
      { topic: prepared.topic },
    );
    const limit = this.o.maxRecordBytes;
    if (limit !== undefined && value.length > limit) {
      const changeId = ids(key ?? values);
      this.o.logger.warn('snapshot row sent to the dead-letter topic', {
        table: `${captured.schema}.${captured.table}`,
        bytes: value.length,
      });
      const error = recordTooLarge(captured, key, value.length, limit);
      (this.o.observer ?? noopObserver).deadLettered({
        subject: `table ${captured.schema}.${captured.table}`,
        topic: prepared.topic,
        reason: error.code,
        message: error.message,
      });
      return deadLetterRecord({
        topic: deadLetterTopic(this.o.prefix),
        sourceTopic: prepared.topic,
        changeId,
        error,
        payload: {
          table: `${captured.schema}.${captured.table}`,
          op: 'read',
          changeId,
          columns: rs.columns.map((c) => c.column.name),
          // Excluded and masked columns stay out of Kafka here too.
          values: values.map((v, i) =>
            v !== null && route.transform.hidden.has(rs.columns[i]?.column.name ?? '')
              ? '(masked)'
              : v !== null && v.length > 1024
                ? `(omitted: ${v.length} characters)`
                : v,
          ),
        },
      });
    }
    if (prepared.keyWriter && key)
      return { topic: prepared.topic, key: prepared.keyWriter.encode(key), value };
    return { topic: prepared.topic, key: null, value, partition: 0 };
  }
}

interface SerialSender {
  send(records: OutRecord[]): Promise<void>;
  drain(): Promise<void>;
}

/** Sends in the order called, one request at a time; a reader waits only for its own batch. */
function serialSender(
  scope: WriteScope,
  headers: RecordHeaders | undefined,
  sent: (records: OutRecord[]) => void,
): SerialSender {
  let tail: Promise<void> = Promise.resolve();
  return {
    send(records) {
      const p = tail.then(async () => {
        await scope.send(withHeaders(records, headers));
        sent(records);
      });
      tail = p.catch(() => undefined);
      return p;
    },
    drain: () => tail,
  };
}

/**
 * Streaming: pgoutput messages → Kafka transactions → slot acknowledgement.
 *
 * - Changes are buffered per source transaction and written with the position in one Kafka
 *   transaction. Several small source transactions share one Kafka transaction (group
 *   commit: written when the stream has nothing more queued, after `lingerMs`, or at
 *   `maxChangesPerTransaction`); a larger one is written in chunks of at most that many
 *   changes (or 64 MiB of records), each chunk's position saying how far it got. Memory is
 *   bounded by the chunk size plus the stream's queue.
 * - The slot is acknowledged only up to the end of the last source transaction whose Kafka
 *   transaction committed. A keepalive that arrives while nothing is buffered moves the
 *   acknowledgement to the server's WAL position: the slot never holds WAL for tables it
 *   does not capture (the heartbeat).
 * - Every change at or before the stored position is skipped (Kafka already has it).
 * - A Relation message derives the table's Avro schemas again; a changed table gets a new
 *   schema version from its next change on.
 */

import type { PgQueryable } from '@cdc/avro';
import { pgKeyFromRow, pgRowFromText } from '@cdc/avro';
import {
  type CaptureObserver,
  type ChangeWriter,
  countByTopic,
  deadLetterRecord,
  type GateResult,
  noopObserver,
  type OffsetsStore,
  type OutRecord,
  type TablePauses,
  type TopicSchemas,
  withHeaders,
} from '@cdc/capture';
import { CdcError, type Clock, formatLsn, isCdcError, type Logger, topicFor } from '@cdc/core';
import type pg from 'pg';
import { publishedViaAncestor } from '../partitions.ts';
import type { LogicalMessage, PgoutputMessage, TupleValue } from '../pgoutput/decoder.ts';
import type { ReplicationStream } from '../pgoutput/replication-stream.ts';
import { alreadyWritten, captureId, type StoredPosition } from '../positions.ts';
import { describeRelation } from '../relations.ts';
import { type IncrementalSnapshot, RESYNC } from '../snapshot/incremental.ts';
import { describeTable } from '../snapshot/table-route.ts';
import {
  type ChangeContext,
  deadLetterValues,
  encodeChange,
  keyFromTuple,
  resolveToast,
  streamChangeId,
  type TableRoute,
  type ToastFetcher,
  textOf,
} from './change-records.ts';
import { controlPrefix, parseControl } from './control-signals.ts';
import { IncrementalProgress } from './incremental-progress.ts';
import type { MessageTopic } from './message-topic.ts';
import {
  keyFromJson,
  parseReplay,
  type RowReader,
  replaySignalPrefix,
  type TableTransforms,
} from './table-transforms.ts';

/**
 * Bytes of records buffered before a chunk is written even below `maxChangesPerTransaction`:
 * a transaction of many large rows holds at most about this much (plus one record) in memory.
 */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export interface StreamerOptions {
  name: string;
  db: string;
  prefix: string;
  slot: string;
  /**
   * The publication: a partition's Relation message (which pgoutput sends along with its root's
   * under `publish_via_partition_root`) gets no topic when its changes are published as the root's.
   */
  publication?: string;
  /**
   * The published tables by oid as the capture started: a Relation message under another name
   * is a `RENAME TABLE` (see `onRelation`), also for a table not changed before it.
   */
  tableNames?: ReadonlyMap<number, string>;
  stream: ReplicationStream;
  writer: ChangeWriter;
  offsets: OffsetsStore;
  topics: TopicSchemas;
  catalog: PgQueryable;
  fetchToast: ToastFetcher;
  messages: MessageTopic | null;
  /** Tables added to the include list since the initial snapshot (null: none). */
  incremental?: IncrementalSnapshot | null;
  /** The tables' transforms and quality rules (every row passes its table's gate). */
  transforms: TableTransforms;
  /** The paused tables (pause/resume commands of the control service; absent: none). */
  pauses?: TablePauses | null;
  /** Re-reads a row by key for a quarantine replay (null: the row is gone). */
  readRow?: RowReader;
  stored: StoredPosition | undefined;
  maxChangesPerTransaction: number;
  /** A change whose record is larger is dead-lettered (default: no limit). */
  maxRecordBytes?: number;
  lingerMs?: number;
  observer?: CaptureObserver;
  logger: Logger;
  clock: Clock;
}

interface OpenTx {
  finalLsn: bigint;
  xid: number;
  commitTimeUsec: bigint;
  index: number;
  /** Index of the last change buffered for this transaction (-1: none). */
  lastBuffered: number;
}

export interface StreamerStats {
  changes: number;
  skipped: number;
  deadLetters: number;
  /** Rows sent to the quarantine topic by a quality rule (or a stopped table). */
  quarantined: number;
  acknowledged: string;
}

export class Streamer {
  private readonly o: StreamerOptions;
  private readonly routes = new Map<number, TableRoute>();
  private buffer: OutRecord[] = [];
  /** Bytes of the buffered records' values (a chunk is written past `MAX_BUFFERED_BYTES`). */
  private bufferedBytes = 0;
  private firstBufferedAt = 0;
  /** Position of the last buffered change and the end LSN to acknowledge once it commits. */
  private bufferedPosition: StoredPosition | undefined;
  private ackAfterFlush = 0n;
  /** The buffered position must be written even without records (incremental snapshot progress). */
  private positionOnly = false;
  private tx: OpenTx | undefined;
  private stored: StoredPosition | undefined;
  readonly stats: StreamerStats = {
    changes: 0,
    skipped: 0,
    deadLetters: 0,
    quarantined: 0,
    acknowledged: '0/0',
  };

  /** The incremental snapshot's progress as the snapshot metrics. */
  private readonly incrementalProgress: IncrementalProgress;

  constructor(options: StreamerOptions) {
    this.o = options;
    this.stored = options.stored;
    this.incrementalProgress = new IncrementalProgress(options.catalog, options.observer ?? noopObserver);
  }

  private get deadLetterTopic(): string {
    return `${this.o.prefix}.dead-letter`;
  }

  /** Streams until `signal` aborts or the stream fails (the error is thrown). */
  async run(signal: AbortSignal): Promise<void> {
    const { stream, logger } = this.o;
    await this.o.topics.ensureTopic(this.deadLetterTopic);
    if (this.o.transforms.configured)
      await this.o.topics.ensureTopic(this.o.transforms.quarantineTopic, { 'cleanup.policy': 'compact' });
    const lingerMs = this.o.lingerMs ?? 100;
    const incremental = this.o.incremental;
    while (!signal.aborted) {
      if (incremental?.idle) await incremental.startChunk();
      const item = await stream.next(signal);
      if (item === null) break;
      if (item.kind === 'keepalive') {
        if (!this.tx && this.buffer.length === 0 && item.walEnd > stream.acknowledged) {
          this.acknowledge(item.walEnd);
        }
      } else {
        await this.handle(item.walStart, item.message);
      }
      if (
        (this.buffer.length > 0 || this.positionOnly) &&
        !this.tx &&
        (stream.backlog === 0 || this.o.clock.now() - this.firstBufferedAt >= lingerMs)
      ) {
        await this.flush();
      }
    }
    logger.info('streaming stopped', { ...this.stats });
  }

  private acknowledge(lsn: bigint): void {
    this.o.stream.acknowledge(lsn);
    this.stats.acknowledged = formatLsn(lsn);
  }

  private async handle(walStart: bigint, msg: PgoutputMessage): Promise<void> {
    switch (msg.tag) {
      case 'begin':
        this.tx = {
          finalLsn: msg.finalLsn,
          xid: msg.xid,
          commitTimeUsec: msg.commitTimeUsec,
          index: 0,
          lastBuffered: -1,
        };
        return;
      case 'commit': {
        const tx = this.tx;
        this.tx = undefined;
        if (!tx) return;
        this.o.logger.debug('commit', { buffered: this.buffer.length, lastBuffered: tx.lastBuffered });
        if (this.buffer.length === 0 && !this.positionOnly) {
          // Everything of this transaction (if anything) is committed already: acknowledge it.
          this.acknowledge(msg.endLsn);
          return;
        }
        if (tx.lastBuffered >= 0)
          this.bufferedPosition = this.position(tx, tx.lastBuffered, true, msg.endLsn);
        this.ackAfterFlush = msg.endLsn;
        return;
      }
      case 'relation':
        await this.onRelation(msg);
        return;
      case 'insert':
      case 'update':
      case 'delete':
      case 'truncate':
      case 'message':
        await this.onChange(walStart, msg);
        return;
      default:
        return;
    }
  }

  private async onRelation(msg: Extract<PgoutputMessage, { tag: 'relation' }>): Promise<void> {
    if (this.o.publication && (await publishedViaAncestor(this.o.catalog, msg.oid, this.o.publication)))
      return;
    const captured = await describeRelation(this.o.catalog, msg);
    const base = topicFor(this.o.prefix, { db: this.o.db, schema: msg.schema, table: msg.name });
    const transform = this.o.transforms.compile(captured);
    const prepared = await this.o.topics.prepare(base, transform.row, transform.keyFields);
    const previous = this.routes.get(msg.oid);
    const table = `${msg.schema}.${msg.name}`;
    const before = previous
      ? `${previous.captured.schema}.${previous.captured.table}`
      : this.o.tableNames?.get(msg.oid);
    if (before !== undefined && before !== table) {
      // RENAME TABLE: the new name is a new topic, which only has the rows changed since; the
      // table is read again into it (a resync request, met in commit order like any).
      const body = JSON.stringify({ table, ranges: [{ from: null, to: null, absent: [] }] });
      await this.o.catalog.query('SELECT pg_logical_emit_message(true, $1, $2)', [
        `cdc.watermark.${this.o.name}`,
        `resync:${body}`,
      ]);
      this.o.logger.warn('table renamed: its rows are read again into the topic of its new name', {
        from: before,
        to: table,
        topic: prepared.topic,
      });
    }
    if (previous && previous.prepared.valueWriter.schemaId !== prepared.valueWriter.schemaId) {
      this.o.logger.info('table schema changed', {
        table: `${msg.schema}.${msg.name}`,
        topic: prepared.topic,
        schemaId: prepared.valueWriter.schemaId,
      });
    }
    this.routes.set(msg.oid, { captured, prepared, transform });
  }

  private route(oid: number): TableRoute {
    const route = this.routes.get(oid);
    if (!route) {
      throw new CdcError(
        'INVARIANT_VIOLATED',
        `a change for relation ${oid} came before its Relation message`,
        { context: { oid } },
      );
    }
    return route;
  }

  private position(tx: OpenTx, index: number, complete: boolean, endLsn: bigint | null): StoredPosition {
    return {
      kind: 'postgres',
      slot: this.o.slot,
      commitLsn: formatLsn(tx.finalLsn),
      index,
      complete,
      endLsn: endLsn === null ? null : formatLsn(endLsn),
      txId: tx.xid,
      tsUsec: Number(tx.commitTimeUsec),
      snapshot: this.snapshotInfo(),
      incremental: this.o.incremental?.progress ?? null,
      ...(this.o.incremental && this.o.incremental.queued.length > 0
        ? { resync: this.o.incremental.queued }
        : {}),
    };
  }

  /** The initial snapshot, with the tables whose incremental snapshot finished since. */
  private snapshotInfo(): StoredPosition['snapshot'] {
    const snapshot = this.stored?.snapshot ?? null;
    const finished = this.o.incremental?.finished ?? [];
    if (!snapshot || finished.length === 0) return snapshot;
    const chunked = snapshot.chunked?.filter((t) => !finished.includes(t));
    return {
      ...snapshot,
      tables: [...new Set([...snapshot.tables, ...finished])],
      ...(chunked ? { chunked } : {}),
    };
  }

  /** Where a change sits: its transaction, its WAL position and its index in the transaction. */
  private changeContext(tx: OpenTx, walStart: bigint, index: number): ChangeContext {
    return {
      name: this.o.name,
      db: this.o.db,
      finalLsn: tx.finalLsn,
      lsn: walStart,
      index,
      xid: tx.xid,
      commitTimeUsec: tx.commitTimeUsec,
      ...(this.o.maxRecordBytes === undefined ? {} : { maxRecordBytes: this.o.maxRecordBytes }),
    };
  }

  private async onChange(
    walStart: bigint,
    msg: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' | 'truncate' | 'message' }>,
  ): Promise<void> {
    const tx = this.tx;
    if (!tx) return; // non-transactional logical messages are not captured
    if (msg.tag === 'message') {
      const incremental = this.o.incremental;
      if (incremental && msg.prefix === incremental.prefix) {
        await this.onWatermark(incremental, tx, walStart, msg);
        return;
      }
      if (msg.prefix === replaySignalPrefix(this.o.name)) {
        await this.onReplay(tx, walStart, msg);
        return;
      }
      if (this.o.pauses && msg.prefix === controlPrefix(this.o.name)) {
        await this.onControl(this.o.pauses, tx, msg);
        return;
      }
      // (Messages are in the stream for the watermarks: others count only when captured.)
      if (!this.o.messages) return;
    }
    const count = msg.tag === 'truncate' ? msg.oids.length : 1;
    for (let n = 0; n < count; n++) {
      const index = tx.index++;
      if (alreadyWritten(this.stored, tx.finalLsn, index)) {
        this.stats.skipped++;
        continue;
      }
      const ctx = this.changeContext(tx, walStart, index);
      const records = await this.records(msg, n, ctx);
      if (this.buffer.length === 0) this.firstBufferedAt = this.o.clock.now();
      for (const r of this.o.pauses?.route(records) ?? records) {
        this.buffer.push(r);
        this.bufferedBytes += r.value?.length ?? 0;
      }
      tx.lastBuffered = index;
      this.stats.changes++;
      if (this.buffer.length >= this.o.maxChangesPerTransaction || this.bufferedBytes >= MAX_BUFFERED_BYTES) {
        // A chunk: the position says how far this source transaction got.
        this.bufferedPosition = this.position(tx, index, false, null);
        await this.flush();
      }
    }
  }

  private async onWatermark(
    incremental: IncrementalSnapshot,
    tx: OpenTx,
    walStart: bigint,
    msg: LogicalMessage,
  ): Promise<void> {
    if (isResync(msg.content)) {
      // A resync request: queued, and stored with this transaction's position (skipped on replay).
      const index = tx.index++;
      if (alreadyWritten(this.stored, tx.finalLsn, index)) return;
      incremental.request(msg.content);
      if (this.buffer.length === 0) this.firstBufferedAt = this.o.clock.now();
      tx.lastBuffered = index;
      this.positionOnly = true;
      return;
    }
    if (incremental.watermark(msg.content) !== 'high') return;
    const index = tx.index++;
    const ctx = this.changeContext(tx, walStart, index);
    const before = incremental.progress;
    const records = incremental.high(ctx);
    await this.incrementalProgress.chunk(before, incremental.progress, records.length);
    if (this.buffer.length === 0) this.firstBufferedAt = this.o.clock.now();
    for (const r of this.o.pauses?.route(records) ?? records) {
      this.buffer.push(r);
      this.bufferedBytes += r.value?.length ?? 0;
    }
    this.stats.changes += records.length;
    tx.lastBuffered = index;
    this.positionOnly = true;
  }

  /**
   * A pause or resume of a table (the control service's command, see control-signals.ts): from
   * here on the table's records are held, or what it held is written to its topic now. The
   * message takes an index in its transaction, so a restart does not apply it twice.
   */
  private async onControl(pauses: TablePauses, tx: OpenTx, msg: LogicalMessage): Promise<void> {
    const index = tx.index++;
    if (alreadyWritten(this.stored, tx.finalLsn, index)) {
      this.stats.skipped++;
      return;
    }
    let command: ReturnType<typeof parseControl>;
    try {
      command = parseControl(msg.content);
    } catch (err) {
      this.o.logger.warn('a control message was ignored', { reason: (err as Error).message });
      return;
    }
    const [schema, table] = command.table.split('.', 2) as [string, string];
    const base = topicFor(this.o.prefix, { db: this.o.db, schema, table });
    const records =
      command.type === 'pause' ? await pauses.pause(base) : await pauses.resume(base, this.buffer);
    this.o.logger.info(`table ${command.type}d`, {
      table: command.table,
      id: command.id,
      records: records.length,
    });
    if (records.length === 0) return;
    if (this.buffer.length === 0) this.firstBufferedAt = this.o.clock.now();
    this.buffer.push(...records);
    this.bufferedBytes = this.buffer.reduce((n, r) => n + (r.value?.length ?? 0), 0);
    tx.lastBuffered = index;
  }

  /** A streamed change of a row: the incremental snapshot's chunk drops that key. */
  private streamedKey(route: TableRoute, key: Record<string, unknown> | null, xid: number): void {
    this.o.incremental?.streamed(route.captured.schema, route.captured.table, key, xid);
  }

  private async records(
    msg: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' | 'truncate' | 'message' }>,
    n: number,
    ctx: ChangeContext,
  ): Promise<OutRecord[]> {
    if (msg.tag === 'message')
      return this.o.messages ? [this.o.messages.record(msg as LogicalMessage, ctx)] : [];
    const oid = msg.tag === 'truncate' ? (msg.oids[n] as number) : msg.oid;
    const route = this.route(oid);
    const rs = route.captured.rowSchema;
    const now = this.o.clock.now();
    let raw: unknown;
    try {
      switch (msg.tag) {
        case 'insert': {
          raw = msg.newTuple;
          const row = pgRowFromText(rs, msg.newTuple.map(textOf));
          const key = route.captured.hasKey ? pgKeyFromRow(rs, row) : null;
          if (key) this.streamedKey(route, key, ctx.xid);
          const gated = this.o.transforms.apply(route.transform, row, key);
          if (gated.kind === 'filtered') return this.resolved(gated);
          if (gated.kind === 'quarantine') return [this.quarantined(route, key, 'c', gated, ctx, now)];
          return [encodeChange(route, 'c', key, null, gated.row, ctx, now), ...this.resolved(gated)];
        }
        case 'update': {
          raw = msg.newTuple;
          const values = await resolveToast(route.captured, msg.newTuple, msg.oldTuple, this.o.fetchToast);
          if (values === null) {
            throw new CdcError(
              'POISON_RECORD',
              `${route.captured.schema}.${route.captured.table}: an update left large (TOASTed) values unchanged, WAL does not carry them, and the row no longer exists to read them from. Set REPLICA IDENTITY FULL on the table to capture them from the old row`,
              { context: { table: `${route.captured.schema}.${route.captured.table}` } },
            );
          }
          const row = pgRowFromText(rs, values);
          const before = msg.oldKind === 'O' && msg.oldTuple ? this.fullOldRow(route, msg.oldTuple) : null;
          const oldKey =
            msg.oldKind && msg.oldTuple && route.captured.hasKey ? keyFromTuple(rs, msg.oldTuple) : null;
          const newKey = route.captured.hasKey ? pgKeyFromRow(rs, row) : null;
          if (oldKey) this.streamedKey(route, oldKey, ctx.xid);
          if (newKey) this.streamedKey(route, newKey, ctx.xid);
          const out: OutRecord[] = [];
          const gated = this.o.transforms.apply(route.transform, row, newKey);
          const keyChanged =
            oldKey && newKey && JSON.stringify(oldKey, bigintJson) !== JSON.stringify(newKey, bigintJson);
          out.push(...this.resolved(gated));
          if (gated.kind === 'filtered') {
            // A keyless table is an append-only log downstream: nothing to take back.
            if (!route.captured.hasKey) return out;
            // The row no longer matches the filter (or never did): a delete, so a replica that
            // had it drops it (a delete of a key the replica never had changes nothing).
            if (keyChanged) out.push(encodeChange(route, 'd', oldKey, before, null, ctx, now));
            out.push(encodeChange(route, 'd', newKey, keyChanged ? null : before, null, ctx, now));
            return out;
          }
          if (gated.kind === 'quarantine') return [this.quarantined(route, newKey, 'u', gated, ctx, now)];
          const after = gated.row;
          // A changed primary key: the old key gets a delete so its partition sees the row leave.
          if (keyChanged) {
            out.push(encodeChange(route, 'd', oldKey, before, null, ctx, now));
            out.push(encodeChange(route, 'c', newKey, null, after, ctx, now));
            return out;
          }
          out.push(encodeChange(route, 'u', newKey, before, after, ctx, now));
          return out;
        }
        case 'delete': {
          raw = msg.oldTuple;
          const before = msg.oldKind === 'O' ? this.fullOldRow(route, msg.oldTuple) : null;
          const key = route.captured.hasKey ? keyFromTuple(rs, msg.oldTuple) : null;
          if (key) this.streamedKey(route, key, ctx.xid);
          return [encodeChange(route, 'd', key, before, null, ctx, now)];
        }
        case 'truncate':
          this.streamedKey(route, null, ctx.xid);
          return this.truncateRecords(route, ctx, now);
      }
    } catch (err) {
      if (!isCdcError(err) || (err.code !== 'POISON_RECORD' && err.code !== 'SERDE_FAILED')) throw err;
      this.stats.deadLetters++;
      this.o.logger.warn('change sent to the dead-letter topic', { err, topic: route.prepared.topic });
      (this.o.observer ?? noopObserver).deadLettered({
        subject: `table ${route.captured.schema}.${route.captured.table}`,
        topic: route.prepared.topic,
        reason: err.code,
        message: err.message,
      });
      return [
        deadLetterRecord({
          topic: this.deadLetterTopic,
          sourceTopic: route.prepared.topic,
          changeId: `${formatLsn(ctx.finalLsn)}:${ctx.index}`,
          error: err,
          payload: {
            table: `${route.captured.schema}.${route.captured.table}`,
            op: msg.tag,
            commitLsn: formatLsn(ctx.finalLsn),
            index: ctx.index,
            columns: rs.columns.map((c) => c.column.name),
            // Excluded and masked columns stay out of Kafka here too.
            values:
              deadLetterValues(
                Array.isArray(raw) ? (raw as TupleValue[]) : null,
                this.o.maxRecordBytes ?? Number.POSITIVE_INFINITY,
              )?.map((v, i) =>
                v !== null && route.transform.hidden.has(rs.columns[i]?.column.name ?? '') ? '(masked)' : v,
              ) ?? null,
          },
        }),
      ];
    }
  }

  /** The tombstone of a quarantine entry that this change makes stale (none when there is none). */
  private resolved(gated: GateResult): OutRecord[] {
    if (gated.kind === 'quarantine' || gated.resolved === undefined) return [];
    return [{ topic: this.o.transforms.quarantineTopic, key: gated.resolved, value: null }];
  }

  /**
   * The route of `schema.table` for a replay: the one the stream described, else (no change of
   * the table since this session started) described from the catalog now.
   */
  private async replayRoute(table: string): Promise<TableRoute | null> {
    const known = [...this.routes.values()].find((r) => `${r.captured.schema}.${r.captured.table}` === table);
    if (known) return known;
    const described = await describeTable(
      this.o.catalog as pg.ClientBase,
      table,
      this.o.prefix,
      this.o.db,
      this.o.topics,
      this.o.transforms,
    );
    return described?.route ?? null;
  }

  /** The old row of REPLICA IDENTITY FULL, projected as the table's rows are. */
  private fullOldRow(route: TableRoute, oldTuple: readonly TupleValue[]): Record<string, unknown> {
    return route.transform.project(pgRowFromText(route.captured.rowSchema, oldTuple.map(textOf)));
  }

  private quarantined(
    route: TableRoute,
    key: Record<string, unknown> | null,
    op: string,
    gated: Extract<GateResult, { kind: 'quarantine' }>,
    ctx: ChangeContext,
    now: number,
  ): OutRecord {
    this.stats.quarantined++;
    return this.o.transforms.quarantine(
      route.transform,
      route.prepared.topic,
      key,
      op,
      streamChangeId(ctx.finalLsn, ctx.index),
      gated,
      now,
    );
  }

  /**
   * A quarantine replay (`cdc quarantine replay`): a logical message naming a table and keys,
   * written by the CLI in the source's WAL. Each key's row is read now and passes the gate
   * again at this message's position: a row that changed later in the WAL gets its later
   * changes after this one (higher versions), so the replica ends at the row's current state;
   * a row that is gone becomes a delete. A table stopped by a rule flows again.
   */
  private async onReplay(tx: OpenTx, walStart: bigint, msg: LogicalMessage): Promise<void> {
    const index = tx.index++;
    if (alreadyWritten(this.stored, tx.finalLsn, index)) return;
    const request = parseReplay(Buffer.from(msg.content).toString('utf8'));
    const route = request ? await this.replayRoute(request.table) : null;
    if (!request || !route?.captured.hasKey || !this.o.readRow) {
      this.o.logger.warn(
        'quarantine replay ignored: malformed request, or a table that does not exist or has no key to read rows by',
        { table: request?.table ?? null },
      );
      return;
    }
    this.o.transforms.gate.resume(route.transform.table);
    const ctx = this.changeContext(tx, walStart, index);
    const now = this.o.clock.now();
    const rs = route.captured.rowSchema;
    const records: OutRecord[] = [];
    for (const keyText of request.keys) {
      // The quarantine entry is resolved in this transaction; a row that breaks a rule again is
      // quarantined anew after it.
      records.push({
        topic: this.o.transforms.quarantineTopic,
        key: `${route.transform.table} ${keyText}`,
        value: null,
      });
      const values = await this.o.readRow(route.captured, keyText);
      if (values === null) {
        const key = keyFromJson(route.captured, keyText);
        records.push(encodeChange(route, 'd', key, null, null, ctx, now));
        continue;
      }
      const row = pgRowFromText(rs, values);
      const key = pgKeyFromRow(rs, row);
      const gated = this.o.transforms.apply(route.transform, row, key);
      if (gated.kind === 'filtered') records.push(encodeChange(route, 'd', key, null, null, ctx, now));
      else if (gated.kind === 'quarantine') records.push(this.quarantined(route, key, 'u', gated, ctx, now));
      else records.push(encodeChange(route, 'u', key, null, gated.row, ctx, now));
    }
    this.o.logger.info('quarantine replayed', { table: route.transform.table, keys: request.keys.length });
    if (this.buffer.length === 0) this.firstBufferedAt = this.o.clock.now();
    for (const r of this.o.pauses?.route(records) ?? records) {
      this.buffer.push(r);
      this.bufferedBytes += r.value?.length ?? 0;
    }
    this.stats.changes += records.length;
    tx.lastBuffered = index;
  }

  /** A truncate goes to every partition of the table's topic, so each key's sequence sees it in order. */
  private async truncateRecords(route: TableRoute, ctx: ChangeContext, now: number): Promise<OutRecord[]> {
    const one = encodeChange(route, 't', null, null, null, ctx, now);
    const partitions = await this.o.topics.partitionsOf(route.prepared.topic);
    return Array.from({ length: partitions }, (_, p) => ({ ...one, key: null, partition: p }));
  }

  /** Writes the buffer and its position in one Kafka transaction, then acknowledges. */
  private async flush(): Promise<void> {
    const position = this.bufferedPosition;
    if ((this.buffer.length === 0 && !this.positionOnly) || !position) return;
    this.positionOnly = false;
    const records = this.buffer;
    this.buffer = [];
    this.bufferedBytes = 0;
    this.o.logger.debug('writing', { records: records.length, position });
    const observer = this.o.observer ?? noopObserver;
    const positionRecord = this.o.offsets.positionRecord(captureId(this.o.name), position);
    try {
      await observer.transaction('capture.transaction', (headers) =>
        this.o.writer.commit(withHeaders(records, headers), positionRecord),
      );
    } catch (err) {
      observer.aborted();
      throw err;
    }
    observer.committed(countByTopic(records), Math.floor(position.tsUsec / 1000));
    this.stored = position;
    this.bufferedPosition = undefined;
    // The last complete source transaction in this Kafka transaction may now leave the slot.
    if (this.ackAfterFlush > 0n) this.acknowledge(this.ackAfterFlush);
    this.ackAfterFlush = 0n;
  }
}

function bigintJson(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return v;
}

const RESYNC_BYTES = Buffer.from(RESYNC);
const isResync = (content: Uint8Array) =>
  Buffer.from(content.buffer, content.byteOffset, Math.min(content.length, RESYNC_BYTES.length)).equals(
    RESYNC_BYTES,
  );

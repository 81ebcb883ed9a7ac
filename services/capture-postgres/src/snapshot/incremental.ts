/**
 * Incremental snapshot of tables added to the include list after the initial snapshot, while
 * the stream keeps flowing (the DBLog / Debezium watermark algorithm):
 *
 * 1. a LOW watermark is written into the WAL (`pg_logical_emit_message(true, <prefix>, 'low:<chunk>')`);
 * 2. the next chunk of the table is read by key (`WHERE key > last ORDER BY key LIMIT n`);
 * 3. a HIGH watermark is written.
 *
 * The streamer meets both watermarks in commit order. Between them, every streamed change of
 * the table removes its key from the chunk (the stream carries that row's newer state); so does
 * a change BEFORE the low watermark whose transaction the read did not see (its commit record
 * precedes LOW in the WAL but it became visible after the read's snapshot: see
 * `read-snapshot.ts`); at
 * the HIGH watermark the remaining rows are written as `op: 'r'`, in the Kafka transaction of
 * the HIGH watermark's source transaction, with the table's progress (`incremental` in the
 * stored position). So per key the order is: changes before the chunk, the chunk's row (a
 * state no older than them), changes after; no key is lost and a restarted capture neither
 * repeats a committed chunk (its watermark transaction is skipped like any change) nor skips
 * one (an uncommitted chunk is read again, with the same change ids).
 *
 * The initial snapshot's keyed tables (`initialTables`, listed in the position's
 * `snapshot.chunked`) are read the same way, first: a window is `readers.length` key ranges read
 * at the same time with COPY (`chunk-reader.ts`), sized to about WINDOW_BYTES (a table's first
 * window small, so its first rows arrive quickly); rows carry `source.snapshot: 'true'`.
 *
 * Tables without a key cannot be read by key nor de-duplicated: they are skipped with a
 * warning naming the fix.
 *
 * Resync (what `cdc verify --repair` asks for): a logical message on the same prefix,
 * `resync:{"table":"public.t","ranges":[{"from":["5"],"to":["9"],"absent":[["7"]]}]}`, written
 * into the WAL by whoever wants part of a table read again. The streamer meets it in commit order
 * and queues one job per range (`request`); the queue is stored with the position of that
 * message's transaction, so a restarted capture neither loses nor repeats it. A job reads the
 * keys from `from` to `to` (inclusive; null: unbounded) in chunks exactly as above, and for each
 * `absent` key (a key the requester saw downstream but not at the source) that the chunk did not
 * find and the stream did not touch inside the window, writes a delete: the replica drops a row
 * the source does not have, through the log like any change.
 */
import { pgColumnValueFromText, pgKeyFromRow, pgRowFromText } from '@cdc/avro';
import { deadLetterRecord, deadLetterTopic, type OutRecord, type TopicSchemas } from '@cdc/capture';
import { CdcError, type Logger } from '@cdc/core';
import type { DeadLetterEvent } from '@cdc/telemetry';
import type pg from 'pg';
import { qualified } from '../slot.ts';
import {
  type ChangeContext,
  commitLsnText,
  recordTooLarge,
  sourceInfo,
  streamChangeId,
  type TableRoute,
} from '../streaming/change-records.ts';
import type { TableTransforms } from '../streaming/table-transforms.ts';
import { readWindow } from './chunk-reader.ts';
import { allSaw, type SawTransaction } from './read-snapshot.ts';
import { keyJson, keyJsonBuilder, snapshotIdsFor } from './snapshot-ids.ts';
import { describeTable } from './table-route.ts';

/** Progress of the table being snapshotted, stored with the position. */
export interface IncrementalState {
  /** Snapshot id of this table's incremental snapshot (part of its rows' change ids). */
  id: string;
  table: string;
  /** Text values of the key columns of the last row read; null before the first chunk. */
  lastKey: string[] | null;
  /** A resync job (absent: a table added to the include list). */
  resync?: ResyncJob;
  /** A table of the initial snapshot read in chunks (source.snapshot 'true', larger windows). */
  initial?: boolean;
  /** Rows read and committed so far (progress across restarts). */
  rowsDone?: number;
}

/** A range of a table's keys to read again (a resync request), text values of the key columns. */
export interface ResyncJob {
  table: string;
  /** First key (inclusive); null: from the start. */
  from: string[] | null;
  /** Last key (inclusive); null: to the end. */
  to: string[] | null;
  /** Keys seen downstream that the source may no longer have: deleted when the read does not find them. */
  absent: string[][];
}

export const RESYNC = 'resync:';

/** Rows per range of a table's first window in the initial snapshot (before its row size is known). */
const FIRST_RANGE_ROWS = 500;
/** COPY text a window of the initial snapshot aims at (its rows are held until its HIGH watermark). */
const WINDOW_BYTES = 32 * 1024 * 1024;
/** Reads of one window (after the first, with a growing pause) waiting to see a transaction the stream delivered. */
const READ_ATTEMPTS = 10;

/** A resync request's content → its jobs, or an error naming what is wrong. */
export function parseResync(text: string): ResyncJob[] {
  const body = JSON.parse(text.slice(RESYNC.length)) as {
    table?: unknown;
    ranges?: { from?: unknown; to?: unknown; absent?: unknown }[];
  };
  const keyOf = (v: unknown): string[] | null => {
    if (v === null || v === undefined) return null;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw new Error(`bad key ${JSON.stringify(v)}`);
    return v as string[];
  };
  if (typeof body.table !== 'string' || !Array.isArray(body.ranges))
    throw new Error('a resync request needs "table" and "ranges"');
  const table = body.table.includes('.') ? body.table : `public.${body.table}`;
  return body.ranges.map((r) => ({
    table,
    from: keyOf(r.from),
    to: keyOf(r.to),
    absent: Array.isArray(r.absent) ? r.absent.map((k) => keyOf(k) as string[]) : [],
  }));
}

export interface IncrementalOptions {
  name: string;
  db: string;
  prefix: string;
  /** A connection for reads and watermarks (not the replication connection). */
  client: pg.ClientBase;
  topics: TopicSchemas;
  /** The tables' transforms and quality rules (every row passes its table's gate). */
  transforms: TableTransforms;
  chunkRows: number;
  /**
   * Connections that read a window's ranges at the same time (default: `client` alone); a table
   * of `initialTables` is read `readers.length` ranges of `initialChunkRows` rows at a time.
   */
  readers?: readonly pg.ClientBase[];
  /** Tables still to snapshot, in order (`schema.table`). */
  pending: readonly string[];
  /** Those of `pending` that belong to the initial snapshot (read in chunks while streaming). */
  initialTables?: ReadonlySet<string>;
  /** Rows per range of a window of an initial-snapshot table. */
  initialChunkRows?: number;
  /** Called once the last table of `initialTables` finished (its reader connections can go). */
  onInitialDone?: () => void;
  /**
   * Called when a window of a table is written: rows done, the planner's estimate (at least the
   * rows done), and the rate since this session started the table with the time left at that rate.
   */
  onProgress?: (
    table: string,
    rowsDone: number,
    rowsEstimated: number,
    rate: { rowsPerSecond: number; etaSeconds: number },
  ) => void;
  /** Called for each row sent to the dead-letter topic (`cdc_dead_letter_total`). */
  onDeadLetter?: (event: DeadLetterEvent) => void;
  /** The stored progress of the first pending table, if it had started. */
  state: IncrementalState | null;
  /** Resync jobs queued and not started (stored with the position). */
  resync?: readonly ResyncJob[];
  logger: Logger;
  now?: () => number;
}

interface Chunk {
  id: string;
  route: TableRoute;
  /** stableJson(key) → row; keys the stream changed inside the window are removed. */
  rows: Map<string, { key: Record<string, unknown>; after: Record<string, unknown>; json: string }>;
  /** stableJson(key) → key: absent keys of a resync job that the read did not find. */
  deletes: Map<string, Record<string, unknown>>;
  lastKey: string[] | null;
  /** The last chunk of its table. */
  last: boolean;
  open: boolean;
  /** Rows read (before the stream removed any). */
  read: number;
  /** Whether every read of the window (rows and absent keys) saw a committed transaction. */
  saw: SawTransaction;
  /** When its LOW watermark was written (ms). */
  startedAt: number;
  estimate: number;
}

export class IncrementalSnapshot {
  private readonly o: IncrementalOptions;
  private readonly pending: string[];
  /** Resync jobs after the pending tables (the first one may be under way: `state.resync`). */
  private readonly jobs: ResyncJob[];
  private state: IncrementalState | null;
  private chunk: Chunk | undefined;
  private seq = 0;
  /** Transactions of the changes streamed since the last `startChunk` (their WAL precedes the next LOW). */
  private streamedXids = new Set<number>();
  /** Rows per range of the next window of an initial-snapshot table (grows to fit WINDOW_BYTES). */
  private rangeRows: { table: string; rows: number } | undefined;
  /** When this session started the current table, and its rows done then (for the rate). */
  private since: { table: string; at: number; rows: number } | undefined;
  readonly prefix: string;
  /** Tables whose incremental snapshot finished in this session. */
  readonly finished: string[] = [];

  constructor(options: IncrementalOptions) {
    this.o = options;
    this.pending = [...options.pending];
    this.jobs = [...(options.resync ?? [])];
    const st = options.state;
    if (st?.resync) {
      // Under way when the capture stopped: resumed from its last key (after the include list's tables, if any).
      this.jobs.unshift(st.resync);
      this.state = this.pending.length === 0 ? st : null;
    } else this.state = st && this.pending[0] === st.table ? st : null;
    this.prefix = `cdc.watermark.${options.name}`;
    if (this.state)
      options.logger.info('incremental snapshot resumed', {
        table: this.state.table,
        lastKey: this.state.lastKey,
      });
  }

  /** Whether tables remain (or a chunk is in flight). */
  get active(): boolean {
    return this.pending.length > 0 || this.jobs.length > 0 || this.chunk !== undefined;
  }

  /** Whether the next chunk can be started (no chunk in flight, tables left). */
  get idle(): boolean {
    return this.chunk === undefined && (this.pending.length > 0 || this.jobs.length > 0);
  }

  /** The resync jobs not started yet, to store with the position. */
  get queued(): ResyncJob[] {
    return this.state?.resync ? this.jobs.slice(1) : [...this.jobs];
  }

  /** A resync request met in the stream: its jobs are queued (after those already queued). */
  request(content: Uint8Array): void {
    const text = Buffer.from(content).toString('utf8');
    try {
      const jobs = parseResync(text);
      this.jobs.push(...jobs);
      this.o.logger.info('resync requested', { table: jobs[0]?.table, ranges: jobs.length });
    } catch (err) {
      this.o.logger.warn(
        `a resync request was ignored: ${(err as Error).message}. Write it as resync:{"table":"schema.table","ranges":[{"from":[…],"to":[…]}]}`,
        { request: text.slice(0, 200) },
      );
    }
  }

  /** The progress to store with the next position. */
  get progress(): IncrementalState | null {
    return this.state;
  }

  /**
   * Writes the LOW watermark, reads the next chunk, writes the HIGH watermark. The stream
   * delivers both watermarks later; nothing is written to Kafka here.
   */
  async startChunk(): Promise<void> {
    while (this.idle) {
      const job = this.pending.length > 0 ? undefined : this.jobs[0];
      const table = job ? job.table : (this.pending[0] as string);
      const described = await describeTable(
        this.o.client,
        table,
        this.o.prefix,
        this.o.db,
        this.o.topics,
        this.o.transforms,
      );
      if (!described?.route.captured.hasKey) {
        this.o.logger.warn(
          described
            ? `table ${table} has no primary key or key index: its existing rows are not snapshotted incrementally (its changes are streamed). Add a primary key and re-add the table to take its snapshot`
            : `table ${table} does not exist: nothing to snapshot`,
          { table },
        );
        if (job) this.jobs.shift();
        else {
          this.pending.shift();
          this.finished.push(table);
        }
        this.state = null;
        continue;
      }
      if (!this.state) {
        this.state = job
          ? { id: `resync-${Date.now().toString(36)}-${table}`, table, lastKey: null, resync: job }
          : this.o.initialTables?.has(table)
            ? {
                id: `init-${Date.now().toString(36)}-${table}`,
                table,
                lastKey: null,
                initial: true,
                rowsDone: 0,
              }
            : { id: `inc-${Date.now().toString(36)}-${table}`, table, lastKey: null, rowsDone: 0 };
        this.o.logger.info(job ? 'resync started' : 'incremental snapshot started', {
          table,
          id: this.state.id,
          ...(job ? { from: job.from, to: job.to } : {}),
        });
      }
      const id = `${this.state.id}:${++this.seq}`;
      const chunk: Chunk = {
        id,
        route: described.route,
        rows: new Map(),
        deletes: new Map(),
        lastKey: this.state.lastKey,
        last: false,
        open: false,
        read: 0,
        saw: () => true,
        startedAt: this.o.now?.() ?? Date.now(),
        estimate: described.estimate,
      };
      this.chunk = chunk;
      // Changes the stream delivered before this call precede LOW; from here until the read is
      // done the stream waits, and what it delivers next is checked in `streamed`.
      const delivered = this.streamedXids;
      this.streamedXids = new Set();
      await this.emit(`low:${id}`);
      await this.readSeeing(chunk, delivered);
      await this.emit(`high:${id}`);
      return;
    }
  }

  /**
   * Reads the window until its snapshots saw every transaction the stream already delivered
   * (`delivered`): such a change precedes LOW and is written before the window, and a read that
   * missed it (its backend between WAL flush and visibility, `read-snapshot.ts`) would undo it.
   * Its key cannot be dropped any more (`streamed` was called before the read), so the window is
   * read again, still between the watermarks, once the transaction is visible (milliseconds).
   */
  private async readSeeing(chunk: Chunk, delivered: ReadonlySet<number>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.read(chunk);
      const missed = [...delivered].filter((xid) => !chunk.saw(xid));
      if (missed.length === 0) return;
      if (attempt >= READ_ATTEMPTS)
        throw new CdcError(
          'SOURCE_UNAVAILABLE',
          `the snapshot read of ${chunk.route.captured.schema}.${chunk.route.captured.table} still does not see transaction ${missed[0]}, which the stream already delivered; the window is read again after a restart`,
          { retriable: true, context: { table: chunk.route.captured.table, xid: missed[0] } },
        );
      this.o.logger.debug('window read again: it missed a delivered transaction', {
        xid: missed[0],
        attempt,
      });
      await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt));
    }
  }

  private async emit(content: string): Promise<void> {
    await this.o.client.query('SELECT pg_logical_emit_message(true, $1, $2)', [this.prefix, content]);
  }

  private async read(chunk: Chunk): Promise<void> {
    const { captured } = chunk.route;
    const rs = captured.rowSchema;
    const quote = (c: string) => `"${c.replaceAll('"', '""')}"`;
    const keyIdx = rs.columns.flatMap((c, i) => (c.column.isKey ? [i] : []));
    const keyCols = keyIdx.map((i) => quote(rs.columns[i]!.column.name));
    const job = this.state?.resync;
    const initial = this.state?.initial === true;
    // From scratch (a window can be read again, see readSeeing).
    chunk.rows.clear();
    chunk.deletes.clear();
    chunk.lastKey = this.state?.lastKey ?? null;
    const readers = initial && this.o.readers && this.o.readers.length > 0 ? this.o.readers : [this.o.client];
    const read = await readWindow(readers, {
      table: `${captured.schema}.${captured.table}`,
      columns: rs.columns.map((c) => c.column.name),
      keyIndexes: keyIdx,
      after: chunk.lastKey,
      from: job?.from ?? null,
      to: job?.to ?? null,
      chunkRows: initial ? this.initialRangeRows(chunk.route) : this.o.chunkRows,
    });
    if (initial && read.rows.length > 0) {
      // The next window holds about WINDOW_BYTES of COPY text (at most initialChunkRows per range).
      const perRow = Math.max(1, read.bytes / read.rows.length);
      const fit = Math.floor(WINDOW_BYTES / readers.length / perRow);
      this.rangeRows = {
        table: this.state?.table ?? '',
        rows: Math.max(1, Math.min(this.o.initialChunkRows ?? this.o.chunkRows, fit)),
      };
    }
    const json = keyJsonBuilder();
    for (const values of read.rows) {
      const row = pgRowFromText(rs, values);
      const key = pgKeyFromRow(rs, row);
      const text = json(key);
      chunk.rows.set(text, { key, after: row, json: text });
    }
    chunk.read = read.rows.length;
    const snapshots = [...read.snapshots];
    if (read.lastKey) chunk.lastKey = read.lastKey;
    chunk.last = read.last;
    if (job && chunk.last) {
      // The job's absent keys the source does not hold now (read between the watermarks, like the rows).
      const keyColumns = keyIdx.map((i) => rs.columns[i]!);
      const rel = qualified(`${captured.schema}.${captured.table}`);
      const match = keyCols.map((k, n) => `${k} = $${n + 1}`).join(' AND ');
      for (const text of job.absent) {
        // The statement's snapshot with the answer: which transactions it saw (see `streamed`).
        const found = await this.o.client.query<{ s: string; found: boolean }>({
          text: `SELECT pg_current_snapshot()::text AS s, EXISTS (SELECT 1 FROM ${rel} WHERE ${match}) AS found`,
          values: text,
        });
        snapshots.push(found.rows[0]!.s);
        if (found.rows[0]!.found) continue;
        const key: Record<string, unknown> = {};
        keyColumns.forEach((c, i) => {
          key[c.field] = pgColumnValueFromText(rs, c, text[i] as string);
        });
        chunk.deletes.set(keyJson(key), key);
      }
    }
    chunk.saw = allSaw(snapshots);
  }

  /** Rows per range of the next window of an initial-snapshot table: small for its first window. */
  private initialRangeRows(route: TableRoute): number {
    const table = `${route.captured.schema}.${route.captured.table}`;
    const most = this.o.initialChunkRows ?? this.o.chunkRows;
    return this.rangeRows?.table === table ? this.rangeRows.rows : Math.min(most, FIRST_RANGE_ROWS);
  }

  /** A logical message of this capture: 'low' / 'high' of the chunk in flight, else 'stale'. */
  watermark(content: Uint8Array): 'low' | 'high' | 'stale' {
    const text = Buffer.from(content).toString('utf8');
    const chunk = this.chunk;
    if (chunk && text === `low:${chunk.id}`) {
      chunk.open = true;
      return 'low';
    }
    if (chunk?.open && text === `high:${chunk.id}`) return 'high';
    return 'stale';
  }

  /**
   * A streamed change of `schema.table` with this key (null: a truncate), in transaction `xid`.
   * Inside the window it drops the key from the chunk. Before the window's LOW watermark it does
   * too when the read did not see its transaction: PostgreSQL can write a commit record before
   * LOW and make it visible only after the read's snapshot was taken (`read-snapshot.ts`), and
   * the row read then predates a change the stream has already written; kept, it would undo it.
   * (The streamer meets the WAL before LOW only after `startChunk` returned, so the read's
   * snapshots are known here.)
   */
  streamed(schema: string, table: string, key: Record<string, unknown> | null, xid: number): void {
    // (Only while snapshotting: an idle capture would otherwise collect xids for ever.)
    if (this.active) this.streamedXids.add(xid);
    const chunk = this.chunk;
    if (!chunk || chunk.route.captured.schema !== schema || chunk.route.captured.table !== table) return;
    if (!chunk.open && chunk.saw(xid)) return;
    if (key === null) {
      chunk.rows.clear();
      chunk.deletes.clear();
    } else {
      const text = keyJson(key);
      chunk.rows.delete(text);
      chunk.deletes.delete(text);
    }
  }

  /**
   * The HIGH watermark: the chunk's remaining rows as records, and the progress moves on
   * (stored with the position of the watermark's transaction).
   */
  high(ctx: ChangeContext): OutRecord[] {
    const chunk = this.chunk;
    if (!chunk) return [];
    this.chunk = undefined;
    const { route } = chunk;
    const { prepared, captured } = route;
    const state = this.state as IncrementalState;
    const ids = snapshotIdsFor(state.id, `${captured.schema}.${captured.table}`);
    const now = this.o.now?.() ?? Date.now();
    const source = {
      ...sourceInfo(route, ctx, state.initial ? 'true' : 'incremental'),
      commitLsn: commitLsnText(ctx.finalLsn),
    };
    const out: OutRecord[] = [];
    for (const { key, after: row, json } of chunk.rows.values()) {
      const gated = this.o.transforms.apply(route.transform, row, key);
      if (gated.kind === 'filtered') continue;
      if (gated.kind === 'quarantine') {
        out.push(
          this.o.transforms.quarantine(route.transform, prepared.topic, key, 'r', ids(key, json), gated, now),
        );
        continue;
      }
      const after = gated.row;
      const value = prepared.valueWriter.encode(
        { before: null, after, source, op: 'r', tsMs: now, changeId: ids(key, json) },
        { topic: prepared.topic },
      );
      if (ctx.maxRecordBytes !== undefined && value.length > ctx.maxRecordBytes) {
        const table = `${captured.schema}.${captured.table}`;
        this.o.logger.warn('snapshot row sent to the dead-letter topic', { table, bytes: value.length });
        const error = recordTooLarge(captured, key, value.length, ctx.maxRecordBytes);
        this.o.onDeadLetter?.({
          subject: `table ${table}`,
          topic: prepared.topic,
          reason: error.code,
          message: error.message,
        });
        out.push(
          deadLetterRecord({
            topic: deadLetterTopic(this.o.prefix),
            sourceTopic: prepared.topic,
            changeId: ids(key, json),
            error,
            // The row as the transforms left it (excluded and masked columns stay out), large
            // values replaced by their size: enough to find and replay the row.
            payload: {
              table,
              op: 'read',
              changeId: ids(key, json),
              key: json,
              row: deadLetterRow(after),
            },
          }),
        );
        continue;
      }
      out.push({
        topic: prepared.topic,
        key: prepared.keyWriter ? prepared.keyWriter.encode(key, { topic: prepared.topic }) : null,
        value,
      });
    }
    // Keys downstream that the source does not have: deletes, at the HIGH watermark's position
    // (a streamed change id, so the sink versions them above every earlier change of the key).
    const deleteId = streamChangeId(ctx.finalLsn, ctx.index);
    for (const key of chunk.deletes.values()) {
      out.push({
        topic: prepared.topic,
        key: prepared.keyWriter ? prepared.keyWriter.encode(key, { topic: prepared.topic }) : null,
        value: prepared.valueWriter.encode(
          { before: null, after: null, source, op: 'd', tsMs: now, changeId: deleteId },
          { topic: prepared.topic },
        ),
      });
    }
    const rowsDone = (state.rowsDone ?? 0) + chunk.read;
    if (this.since?.table !== state.table)
      this.since = { table: state.table, at: chunk.startedAt, rows: state.rowsDone ?? 0 };
    const estimated = chunk.last ? rowsDone : Math.max(chunk.estimate, rowsDone);
    const seconds = Math.max(0.001, (now - this.since.at) / 1000);
    const rowsPerSecond = Math.round((rowsDone - this.since.rows) / seconds);
    if (!state.resync)
      this.o.onProgress?.(state.table, rowsDone, estimated, {
        rowsPerSecond,
        etaSeconds: chunk.last ? 0 : Math.round((estimated - rowsDone) / Math.max(1, rowsPerSecond)),
      });
    if (chunk.last && state.resync) {
      this.o.logger.info('resync finished', {
        table: state.table,
        id: state.id,
        deleted: chunk.deletes.size,
      });
      this.jobs.shift();
      this.state = null;
    } else if (chunk.last) {
      this.o.logger.info(state.initial ? 'snapshot of table finished' : 'incremental snapshot finished', {
        table: state.table,
        id: state.id,
        rows: rowsDone,
      });
      this.finished.push(this.pending.shift() as string);
      this.state = null;
      const initial = this.o.initialTables;
      if (initial?.has(state.table) && !this.pending.some((t) => initial.has(t))) this.o.onInitialDone?.();
    } else {
      this.state = { ...state, lastKey: chunk.lastKey, rowsDone };
    }
    return out;
  }
}

/** A snapshot row for a dead letter: JSON-safe, each value over 1 KiB replaced by its size. */
export function deadLetterRow(row: Record<string, unknown>): Record<string, unknown> {
  const safe = (v: unknown): unknown => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'string') return v.length > 1024 ? `(omitted: ${v.length} characters)` : v;
    if (v instanceof Uint8Array)
      return v.length > 1024 ? `(omitted: ${v.length} bytes)` : Buffer.from(v).toString('base64');
    if (Array.isArray(v)) return v.map(safe);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, safe(x)]));
    return v;
  };
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, safe(v)]));
}

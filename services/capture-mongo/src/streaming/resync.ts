/**
 * Resync of a MongoDB collection (the control service's `resync` signal, and `cdc verify
 * --repair`): the capture reads documents of the collection again and writes each into the
 * collection's topic like any change, a read (`op: 'r'`, `source.snapshot: 'incremental'`).
 * What is re-read: the whole collection, an `_id` range (`from`/`to`, inclusive, each `_id` as
 * canonical Extended JSON) or a list of `_id`s (`keys`); of a list, an `_id` the collection no
 * longer holds is written as a delete (`op: 'd'`), so a row only ClickHouse held goes away.
 *
 * Why a re-read can never undo a newer change. The sink versions MongoDB rows by Kafka offset
 * (a key's records in one partition, in the order the capture wrote them). The streamer runs a
 * resync between two change events (`Streamer.applyCommands`): every event it wrote before has a
 * cluster time at or before the stream's position P, and the documents are read after those
 * events were delivered, so at an operation time T ≥ P (checked when the server reports both;
 * a read older than P is refused and retried by the signal channel). The read's records are
 * committed before any later event is written, so an event after P lands at a higher offset and
 * wins, as it should: it is the same or newer than what was read. The record carries T in
 * `source.resumeToken` (`resync:<signal id>@<t>.<i>`) and `source.tsMs`.
 *
 * Each batch of documents is one Kafka transaction (with the position, unchanged); the streamer
 * waits meanwhile, so a whole-collection resync holds the stream for as long as the read takes.
 * Its progress is the collection's snapshot progress (`cdc_snapshot_rows_done` / `_estimated`,
 * with rate and ETA), as a PostgreSQL resync's is: the console's progress bar shows it. The
 * estimate is the number of listed `_id`s, the range's count, or the collection's estimated count.
 * A resync is idempotent: written again (the signal delivered twice), the same documents are
 * read again; the change ids derive from the signal id and the `_id`.
 */
import { mongoKey } from '@cdc/avro';
import {
  type CaptureObserver,
  deadLetterReason,
  noopObserver,
  type OutRecord,
  type Signal,
} from '@cdc/capture';
import { CdcError, type Clock, type Logger, snapshotChangeId, topicFor } from '@cdc/core';
import { BSON, type Document, type MongoClient } from 'mongodb';
import { type ChangeInput, encodeChange, type RecordContext } from '../change-records.ts';
import type { CollectionRoutes } from '../collections.ts';
import { compareTimes, type OperationTime, operationTimeOf, splitNamespace } from '../position.ts';
import type { ControlCommands } from './control-commands.ts';

const { EJSON } = BSON;

/** What to re-read (from a `resync` signal). */
export interface ResyncRequest {
  /** The signal's id: the records' change ids derive from it. */
  id: string;
  /** `db.collection`. */
  ns: string;
  /** `_id`s as canonical Extended JSON (absent: the range, or the whole collection). */
  keys?: readonly string[];
  /** First and last `_id` (canonical Extended JSON), inclusive; absent: unbounded. */
  from?: string;
  to?: string;
}

export interface ResyncOptions {
  name: string;
  client: MongoClient;
  routes: CollectionRoutes;
  deadLetterTopic: string;
  maxRecordBytes: number;
  /** Documents per read and per Kafka transaction (default 1,000). */
  batchSize?: number;
  observer?: CaptureObserver;
  logger: Logger;
  clock: Clock;
}

export interface ResyncResult {
  read: number;
  deleted: number;
  deadLettered: number;
}

/** Writes one batch of records (with the stream's position) and resolves once committed. */
export type WriteBatch = (records: OutRecord[]) => Promise<void>;

export class MongoResync {
  private readonly o: ResyncOptions;

  constructor(options: ResyncOptions) {
    this.o = options;
  }

  /**
   * Re-reads what `request` names and writes it through `write`, a batch at a time.
   * `streamAt`: the cluster time of the last event the streamer wrote (null: none known).
   */
  async run(
    request: ResyncRequest,
    streamAt: OperationTime | null,
    write: WriteBatch,
  ): Promise<ResyncResult> {
    const { client, logger } = this.o;
    const { db, collection } = splitNamespace(request.ns);
    const coll = client.db(db).collection(collection);
    const batchSize = this.o.batchSize ?? 1_000;
    const result: ResyncResult = { read: 0, deleted: 0, deadLettered: 0 };
    const observer = this.o.observer ?? noopObserver;
    const done = () => result.read + result.deleted;
    if (request.keys) {
      for (let i = 0; i < request.keys.length; i += batchSize) {
        const keys = request.keys.slice(i, i + batchSize);
        const ids = keys.map((k) => parseId(k));
        const at = await this.readTime(streamAt);
        const docs = await coll.find({ _id: { $in: ids } } as Document).toArray();
        const found = new Set<string>();
        const records: OutRecord[] = [];
        for (const d of docs) {
          const key = keyText(d);
          found.add(key);
          records.push(...(await this.encode(request, d, key, at, result)));
        }
        for (const [j, key] of keys.entries()) {
          if (found.has(key)) continue;
          records.push(...(await this.encodeDelete(request, ids[j], key, at, result)));
        }
        await write(records);
        observer.snapshotProgress(request.ns, done(), request.keys.length);
      }
    } else {
      const range: Document = {};
      if (request.from !== undefined) range.$gte = parseId(request.from);
      if (request.to !== undefined) range.$lte = parseId(request.to);
      const filter = Object.keys(range).length > 0 ? { _id: range } : {};
      const estimated = await (Object.keys(range).length > 0
        ? coll.countDocuments(filter, { maxTimeMS: 5_000 })
        : coll.estimatedDocumentCount()
      ).catch(() => 0);
      observer.snapshotProgress(request.ns, 0, estimated);
      let at = await this.readTime(streamAt);
      const cursor = coll.find(filter, { batchSize });
      try {
        let batch: Document[] = [];
        const flush = async () => {
          const records: OutRecord[] = [];
          for (const d of batch) records.push(...(await this.encode(request, d, keyText(d), at, result)));
          batch = [];
          await write(records);
          observer.snapshotProgress(request.ns, done(), Math.max(estimated, done()));
          at = await this.readTime(streamAt);
        };
        for await (const d of cursor) {
          batch.push(d);
          if (batch.length >= batchSize) await flush();
        }
        if (batch.length > 0) await flush();
        observer.snapshotProgress(request.ns, done(), done());
      } finally {
        await cursor.close().catch(() => undefined);
      }
    }
    logger.info('collection resynced', { id: request.id, collection: request.ns, ...result });
    return result;
  }

  /**
   * The server's operation time just before a read (the read sees at least this time; servers
   * that report none give null), refused when older than what the stream already wrote.
   * Taken from a `ping`: some MongoDB-compatible servers support no sessions.
   */
  private async readTime(streamAt: OperationTime | null): Promise<OperationTime | null> {
    const reply = (await this.o.client.db('admin').command({ ping: 1 })) as { operationTime?: unknown };
    const at = operationTimeOf(reply.operationTime);
    if (at && streamAt && compareTimes(at, streamAt) < 0)
      throw new CdcError(
        'SOURCE_UNAVAILABLE',
        `a resync read at operation time ${at.t}.${at.i}, before the stream's position ${streamAt.t}.${streamAt.i}: it could undo a newer change, so it is retried`,
        { retriable: true, context: { readAt: `${at.t}.${at.i}`, streamAt: `${streamAt.t}.${streamAt.i}` } },
      );
    return at;
  }

  private input(
    request: ResyncRequest,
    key: string,
    at: OperationTime | null,
  ): Omit<ChangeInput, 'op' | 'keyDocument' | 'after'> {
    const now = this.o.clock.now();
    return {
      changeId: snapshotChangeId(`resync-${request.id}`, request.ns, key),
      resumeToken: `resync:${request.id}@${at ? `${at.t}.${at.i}` : 'no-operation-time'}`,
      tsMs: at ? at.t * 1000 : now,
      txId: null,
      snapshot: 'incremental',
      before: null,
      updateDescription: null,
    };
  }

  private async encode(
    request: ResyncRequest,
    doc: Document,
    key: string,
    at: OperationTime | null,
    result: ResyncResult,
  ): Promise<OutRecord[]> {
    result.read++;
    return this.encoded(
      request,
      { ...this.input(request, key, at), op: 'r', keyDocument: doc, after: doc },
      result,
    );
  }

  private async encodeDelete(
    request: ResyncRequest,
    id: unknown,
    key: string,
    at: OperationTime | null,
    result: ResyncResult,
  ): Promise<OutRecord[]> {
    result.deleted++;
    return this.encoded(
      request,
      { ...this.input(request, key, at), op: 'd', keyDocument: { _id: id }, after: null },
      result,
    );
  }

  private async encoded(
    request: ResyncRequest,
    change: ChangeInput,
    result: ResyncResult,
  ): Promise<OutRecord[]> {
    const { routes } = this.o;
    const route = routes.get(request.ns);
    const ctx: RecordContext = {
      name: this.o.name,
      deadLetterTopic: this.o.deadLetterTopic,
      maxRecordBytes: this.o.maxRecordBytes,
      now: this.o.clock.now(),
    };
    const encoded = await encodeChange(routes, route, change, ctx);
    if (encoded.deadLettered) {
      result.deadLettered++;
      const reason = deadLetterReason(encoded.records);
      (this.o.observer ?? noopObserver).deadLettered({
        subject: `resync of ${request.ns}`,
        topic: route.baseTopic,
        reason: reason.code,
        message: reason.message,
      });
      this.o.logger.warn('a resynced document was sent to the dead-letter topic', {
        collection: request.ns,
        reason: reason.message,
      });
    }
    return encoded.records;
  }
}

/**
 * The signal channel's handler of a `resync`: queues it for the streamer and resolves once every
 * batch is committed; a malformed request is logged and skipped.
 */
export async function submitResync(
  signal: Signal,
  resync: MongoResync,
  commands: ControlCommands,
  prefix: string,
  logger: Logger,
): Promise<void> {
  let request: ResyncRequest;
  try {
    request = resyncRequestOf(signal);
  } catch (err) {
    logger.warn('a resync signal was ignored', {
      id: signal.id,
      table: signal.table,
      reason: (err as Error).message,
    });
    return;
  }
  const { db, collection } = splitNamespace(request.ns);
  await commands.submit('resync', topicFor(prefix, { db, collection }), (streamAt, write) =>
    resync.run(request, streamAt, write),
  );
}

/** An `_id` given as canonical Extended JSON → its BSON value (an error naming the bad text). */
export function parseId(text: string): unknown {
  try {
    return EJSON.parse(text, { relaxed: false });
  } catch (err) {
    throw new CdcError(
      'CONFIG_INVALID',
      `a resync names the _id ${JSON.stringify(text)}, which is not Extended JSON: give it as cdc verify prints it (e.g. {"$numberInt":"42"} or {"$oid":"…"})`,
      { context: { key: text }, cause: err },
    );
  }
}

function keyText(doc: Document): string {
  return mongoKey(doc).id;
}

/**
 * A `resync` signal → what to re-read, or an error naming what is wrong with it (the signal is
 * then ignored: bad input never stops the capture). `keys`, `from` and `to` hold one value each,
 * the `_id` as canonical Extended JSON.
 */
export function resyncRequestOf(signal: Signal): ResyncRequest {
  const one = (k: string[], what: string): string => {
    if (k.length !== 1 || typeof k[0] !== 'string')
      throw new Error(
        `a MongoDB resync's ${what} is one value, the _id as Extended JSON (got ${JSON.stringify(k)})`,
      );
    parseId(k[0]);
    return k[0];
  };
  if (signal.table.indexOf('.') <= 0) throw new Error('MongoDB collections are named db.collection');
  if (signal.keys && (signal.from || signal.to))
    throw new Error('a resync names either keys or a range, not both');
  return {
    id: signal.id,
    ns: signal.table,
    ...(signal.keys ? { keys: signal.keys.map((k) => one(k, 'key')) } : {}),
    ...(signal.from ? { from: one(signal.from, 'from') } : {}),
    ...(signal.to ? { to: one(signal.to, 'to') } : {}),
  };
}

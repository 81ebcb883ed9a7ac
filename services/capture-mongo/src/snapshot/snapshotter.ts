/**
 * The initial snapshot. The session takes each stream's starting point *before* the scan and
 * commits it with the snapshot's id (`position.snapshot`); the snapshot then reads every
 * included collection (`parallelism` at a time, `batchSize` documents per read) and writes each
 * batch as one Kafka transaction with the position, whose `done` list grows as collections
 * finish. Streaming then starts from the points taken before the scan, so a document changed
 * during the scan is read by the scan (in some state) and its changes follow from the stream:
 * nothing is lost, and the final state is the source's.
 *
 * Each collection is read in `_id` order, and every transaction also records how far its
 * collection's read got (`readTo`: the last `_id` whose records it holds), so a capture killed
 * mid-collection reads on after that `_id` (`idsAfter`, whatever the `_id` types) instead of
 * reading the collection again. Reads carry `op: 'r'` and
 * `snapshotChangeId(snapshot id, db.collection, _id)`, so a record written again (by a position
 * from before reads were resumable, say) carries the same change id and deduplicates
 * downstream. Progress (documents done / estimated, per collection) is logged every 5 s and kept
 * in `progress`.
 */
import { mongoKey } from '@cdc/avro';
import {
  type CaptureObserver,
  type ChangeWriter,
  countByTopic,
  deadLetterReason,
  noopObserver,
  type OffsetsStore,
  type OutRecord,
  withHeaders,
} from '@cdc/capture';
import { type Clock, type Logger, snapshotChangeId } from '@cdc/core';
import type { Document, MongoClient } from 'mongodb';
import { encodeChange, type RecordContext } from '../change-records.ts';
import type { CollectionRoutes } from '../collections.ts';
import { captureId, type StoredMongoPosition, splitNamespace } from '../position.ts';
import { idsAfter, idText, parseId } from './id-order.ts';

export interface SnapshotterOptions {
  name: string;
  client: MongoClient;
  writer: ChangeWriter;
  offsets: OffsetsStore;
  routes: CollectionRoutes;
  /** The position whose `snapshot` is under way (not complete). */
  position: StoredMongoPosition;
  parallelism: number;
  batchSize: number;
  deadLetterTopic: string;
  maxRecordBytes: number;
  /** Metrics and traces (default: none). */
  observer?: CaptureObserver;
  logger: Logger;
  clock: Clock;
}

export interface CollectionProgress {
  collection: string;
  documentsDone: number;
  documentsEstimated: number;
  deadLetters: number;
  done: boolean;
}

/** How far a transaction takes its collection's read: the last `_id` whose records it holds. */
interface ReadTo {
  ns: string;
  lastId: unknown;
  documents: number;
}

export class Snapshotter {
  private readonly o: SnapshotterOptions;
  private readonly position: StoredMongoPosition;
  readonly progress = new Map<string, CollectionProgress>();
  private commitChain: Promise<void> = Promise.resolve();

  constructor(options: SnapshotterOptions) {
    this.o = options;
    this.position = structuredClone(options.position);
  }

  /** Reads every collection not done yet; returns the position with the snapshot complete. */
  async run(signal: AbortSignal): Promise<StoredMongoPosition> {
    const snapshot = this.position.snapshot!;
    const todo = snapshot.collections.filter((c) => !snapshot.done.includes(c));
    const started = this.o.clock.now();
    this.o.logger.info('snapshot started', {
      snapshot: snapshot.id,
      collections: snapshot.collections.length,
      remaining: todo.length,
      parallelism: this.o.parallelism,
    });
    const timer = setInterval(() => this.logProgress(), 5_000);
    timer.unref();
    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.max(1, Math.min(this.o.parallelism, todo.length)) }, async () => {
          for (let i = next++; i < todo.length && !signal.aborted; i = next++)
            await this.scan(todo[i]!, signal);
        }),
      );
      if (signal.aborted) throw new Error('snapshot interrupted by shutdown');
      snapshot.complete = true;
      await this.commit([]);
    } finally {
      clearInterval(timer);
    }
    const docs = [...this.progress.values()].reduce((n, p) => n + p.documentsDone, 0);
    const seconds = (this.o.clock.now() - started) / 1000;
    this.o.logger.info('snapshot committed', {
      snapshot: snapshot.id,
      documents: docs,
      seconds,
      documentsPerSecond: Math.round(docs / Math.max(seconds, 0.001)),
      collections: [...this.progress.values()].map((p) => `${p.collection}: ${p.documentsDone}`),
    });
    return structuredClone(this.position);
  }

  /**
   * Commits `records` (and new schema states) with the current position, one transaction at a
   * time; `readTo` says how far they take their collection's read, `finished` that they end it.
   */
  private commit(records: OutRecord[], readTo?: ReadTo, finished?: string): Promise<void> {
    const run = async () => {
      // Marked here, in commit order: no other transaction can say `finished` is done, or a read
      // got further, before the records that show it are in.
      const snapshot = this.position.snapshot!;
      if (readTo) {
        snapshot.readTo ??= {};
        snapshot.readTo[readTo.ns] = { lastId: idText(readTo.lastId), documents: readTo.documents };
      }
      if (finished) {
        snapshot.done.push(finished);
        if (snapshot.readTo) delete snapshot.readTo[finished];
      }
      const states = this.o.routes.stateRecords();
      const observer = this.o.observer ?? noopObserver;
      try {
        await observer.transaction('capture.snapshot', (headers) =>
          this.o.writer.commit(
            [...withHeaders(records, headers), ...states.records],
            this.o.offsets.positionRecord(captureId(this.o.name), structuredClone(this.position)),
          ),
        );
      } catch (err) {
        observer.aborted();
        throw err;
      }
      states.committed();
      observer.committed(countByTopic(records), null);
    };
    const p = this.commitChain.then(run);
    this.commitChain = p.catch(() => undefined);
    return p;
  }

  private async scan(ns: string, signal: AbortSignal): Promise<void> {
    const { db, collection } = splitNamespace(ns);
    const coll = this.o.client.db(db).collection(collection);
    const readTo = this.position.snapshot!.readTo?.[ns];
    const progress: CollectionProgress = {
      collection: ns,
      documentsDone: readTo?.documents ?? 0,
      documentsEstimated: await coll.estimatedDocumentCount().catch(() => 0),
      deadLetters: 0,
      done: false,
    };
    this.progress.set(ns, progress);
    this.o.observer?.snapshotProgress(ns, progress.documentsDone, progress.documentsEstimated);
    if (readTo)
      this.o.logger.info('snapshot of a collection resumed', {
        collection: ns,
        after: readTo.lastId,
        documentsDone: readTo.documents,
      });
    const route = this.o.routes.get(ns);
    const filter = readTo ? idsAfter(parseId(readTo.lastId)) : {};
    const cursor = coll.find(filter, { batchSize: this.o.batchSize, sort: { _id: 1 } });
    try {
      let batch: Document[] = [];
      for await (const doc of cursor) {
        if (signal.aborted) return;
        batch.push(doc);
        if (batch.length >= this.o.batchSize) {
          await this.write(ns, route, batch, progress);
          batch = [];
        }
      }
      if (signal.aborted) return;
      await this.write(ns, route, batch, progress, true);
      progress.done = true;
      this.o.logger.info('snapshot of a collection committed', {
        collection: ns,
        documents: progress.documentsDone,
        deadLetters: progress.deadLetters,
      });
    } finally {
      await cursor.close().catch(() => undefined);
    }
  }

  private async write(
    ns: string,
    route: ReturnType<CollectionRoutes['get']>,
    docs: Document[],
    progress: CollectionProgress,
    last = false,
  ): Promise<void> {
    const snapshot = this.position.snapshot!;
    const ctx: RecordContext = {
      name: this.o.name,
      deadLetterTopic: this.o.deadLetterTopic,
      maxRecordBytes: this.o.maxRecordBytes,
      now: this.o.clock.now(),
    };
    const records: OutRecord[] = [];
    let maxBytes = 0;
    let read = 0;
    for (const doc of docs) {
      const id = (doc as { _id?: unknown })._id;
      read++;
      const encoded = await encodeChange(
        this.o.routes,
        route,
        {
          op: 'r',
          changeId: snapshotChangeId(snapshot.id, ns, id === undefined ? null : mongoKeyText(doc)),
          resumeToken: snapshot.id,
          tsMs: ctx.now,
          txId: null,
          snapshot: 'true',
          keyDocument: doc,
          before: null,
          after: doc,
          updateDescription: null,
        },
        ctx,
      );
      if (encoded.deadLettered) {
        progress.deadLetters++;
        this.o.observer?.deadLettered({
          subject: `collection of ${route.baseTopic}`,
          topic: route.baseTopic,
          reason: deadLetterReason(encoded.records).code,
          message: deadLetterReason(encoded.records).message,
        });
      }
      for (const r of encoded.records) {
        records.push(r);
        maxBytes += r.value?.length ?? 0;
      }
      // Keep one transaction's produce requests well under the broker's request limit.
      if (maxBytes > 32 * 1024 * 1024) {
        await this.commit(records.splice(0), { ns, lastId: id, documents: progress.documentsDone + read });
        maxBytes = 0;
      }
    }
    const lastDoc = docs.at(-1) as { _id?: unknown } | undefined;
    const readTo = lastDoc && { ns, lastId: lastDoc._id, documents: progress.documentsDone + docs.length };
    if (records.length > 0 || last) await this.commit(records, readTo, last ? ns : undefined);
    progress.documentsDone += docs.length;
    // Done: the estimate (the collection's estimated count when the read began) becomes the count.
    if (last) progress.documentsEstimated = progress.documentsDone;
    this.o.observer?.snapshotProgress(ns, progress.documentsDone, progress.documentsEstimated);
  }

  private logProgress(): void {
    for (const p of this.progress.values()) {
      if (p.done) continue;
      this.o.logger.info('snapshot progress', {
        collection: p.collection,
        documentsDone: p.documentsDone,
        documentsEstimated: p.documentsEstimated,
        percent:
          p.documentsEstimated > 0
            ? Math.min(100, Math.round((100 * p.documentsDone) / p.documentsEstimated))
            : null,
      });
    }
  }
}

function mongoKeyText(doc: Document): string {
  try {
    return mongoKey(doc).id;
  } catch {
    return 'no-id';
  }
}

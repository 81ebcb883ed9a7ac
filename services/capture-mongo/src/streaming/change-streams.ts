/**
 * The change streams of one capture, merged into one queue: one deployment-wide stream, or one
 * per collection (servers without wider scopes). Each stream has a pump that reads with
 * `tryNext` (a server that answers `getMore` at once without waiting does not spin: an empty
 * answer sleeps `idleMs`) into a bounded queue, so the reader never runs far ahead of Kafka.
 *
 * Events keep their order within a stream (so per `_id`, as a key lives in one collection).
 * An `invalidate` is queued, then the pump reopens its stream with `startAfter` that token (a
 * dropped or renamed collection that comes back is captured again). When a stream is idle and
 * the server's post-batch token moves (its periodic no-op entries), a `heartbeat` item carries
 * it, so that the stored token keeps up with the oplog.
 *
 * Events over 16 MB: streams end with `$changeStreamSplitLargeEvent` where the server has it, and
 * the fragments are put back together before an event is queued (`split-events.ts`); no token is
 * stored from the middle of a split event.
 */
import { CdcError, type Logger } from '@cdc/core';
import type { MongoSource } from '@cdc/pipeline';
import {
  type ChangeStream,
  type ChangeStreamDocument,
  type ChangeStreamOptions,
  type Document,
  type MongoClient,
  Timestamp,
} from 'mongodb';
import { DEPLOYMENT_STREAM, type ResumePoint, SYSTEM_DBS, splitNamespace } from '../position.ts';
import { isSplitUnsupported, Reassembler, SPLIT_STAGE } from './split-events.ts';

export type StreamItem =
  | { kind: 'event'; stream: string; event: ChangeStreamDocument }
  | { kind: 'heartbeat'; stream: string; token: string };

export interface ChangeStreamsOptions {
  client: MongoClient;
  source: MongoSource;
  /** Stream key (`*` or `db.collection`) → where it resumes. */
  resume: ReadonlyMap<string, ResumePoint>;
  logger: Logger;
  maxQueued?: number;
  idleMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The options of a stream resuming at `point` (none: from now). */
export function streamOptions(source: MongoSource, point: ResumePoint | undefined): ChangeStreamOptions {
  const options: ChangeStreamOptions = {
    fullDocument: source.fullDocument,
    maxAwaitTimeMS: 200,
    batchSize: 1000,
  };
  if (source.fullDocumentBeforeChange !== 'off')
    options.fullDocumentBeforeChange = source.fullDocumentBeforeChange;
  if (point?.token) options.startAfter = { _data: point.token };
  else if (point?.startAt)
    options.startAtOperationTime = new Timestamp({ t: point.startAt.t, i: point.startAt.i });
  return options;
}

/** The `$match` of the deployment-wide stream for an include list. */
export function deploymentMatch(include: readonly string[]): Document {
  if (include.length === 0) return { 'ns.db': { $nin: [...SYSTEM_DBS] } };
  return {
    $or: include.map((entry) => {
      if (!entry.includes('.')) return { 'ns.db': entry };
      const { db, collection } = splitNamespace(entry);
      return { 'ns.db': db, 'ns.coll': collection };
    }),
  };
}

/**
 * Opens the stream `key` (`*`: the deployment; else `db.collection`); with `split`, large events
 * arrive as fragments (`$changeStreamSplitLargeEvent`, the last stage).
 */
export function openStream(
  client: MongoClient,
  source: MongoSource,
  key: string,
  point: ResumePoint | undefined,
  split = false,
): ChangeStream {
  const options = streamOptions(source, point);
  const last = split ? [SPLIT_STAGE] : [];
  if (key === DEPLOYMENT_STREAM)
    return client.watch([{ $match: deploymentMatch(source.include) }, ...last], options);
  const { db, collection } = splitNamespace(key);
  return client.db(db).collection(collection).watch(last, options);
}

export class ChangeStreams {
  private readonly o: ChangeStreamsOptions;
  private readonly queue: StreamItem[] = [];
  private readonly streams = new Map<string, ChangeStream>();
  private waiting: (() => void) | undefined;
  private spaceWaiters: (() => void)[] = [];
  private failure: unknown;
  private closed = false;
  private pumps: Promise<void>[] = [];
  /** Whether the server has `$changeStreamSplitLargeEvent` (found out when the first stream opens). */
  private split = true;

  constructor(options: ChangeStreamsOptions) {
    this.o = options;
  }

  get backlog(): number {
    return this.queue.length;
  }

  /** Opens every stream (the first `getMore` is sent, so a refused token fails here). */
  async start(): Promise<void> {
    for (const [key, point] of this.o.resume) {
      let stream = openStream(this.o.client, this.o.source, key, point, this.split);
      let first: ChangeStreamDocument | null;
      try {
        first = await stream.tryNext();
      } catch (err) {
        if (!this.split || !isSplitUnsupported(err)) throw err;
        await stream.close().catch(() => undefined);
        this.split = false;
        this.o.logger.info(
          'the server cannot split change events over 16 MB ($changeStreamSplitLargeEvent): events arrive whole, and one over maxRecordBytes is dead-lettered',
          { stream: key },
        );
        stream = openStream(this.o.client, this.o.source, key, point, false);
        first = await stream.tryNext();
      }
      this.streams.set(key, stream);
      if (first) {
        // A stream that opens on a fragment resumes after a whole event: the first fragment is here.
        const whole = this.reassemblers(key).add(first);
        if (whole) this.push({ kind: 'event', stream: key, event: whole });
      }
    }
    for (const key of this.o.resume.keys()) this.pumps.push(this.pump(key));
  }

  private readonly fragments = new Map<string, Reassembler>();

  private reassemblers(key: string): Reassembler {
    let r = this.fragments.get(key);
    if (!r) {
      r = new Reassembler();
      this.fragments.set(key, r);
    }
    return r;
  }

  private push(item: StreamItem): void {
    this.queue.push(item);
    this.waiting?.();
  }

  private async pump(key: string): Promise<void> {
    const maxQueued = this.o.maxQueued ?? 10_000;
    const idleMs = this.o.idleMs ?? 25;
    let lastToken: string | undefined;
    try {
      while (!this.closed) {
        while (this.queue.length >= maxQueued && !this.closed)
          await new Promise<void>((r) => this.spaceWaiters.push(r));
        if (this.closed) return;
        const stream = this.streams.get(key)!;
        const fragment = await stream.tryNext();
        if (this.closed) return;
        if (fragment) {
          lastToken = (fragment._id as { _data: string })._data;
          const parts = this.reassemblers(key);
          const event = parts.add(fragment);
          if (!event) continue;
          if (parts.fragments > 1)
            this.o.logger.info('a change event over 16 MB arrived in fragments, put back together', {
              stream: key,
              fragments: parts.fragments,
            });
          this.push({ kind: 'event', stream: key, event });
          if (event.operationType === 'invalidate') {
            this.o.logger.warn('change stream invalidated; reopening after it', { stream: key });
            await stream.close().catch(() => undefined);
            this.streams.set(
              key,
              openStream(
                this.o.client,
                this.o.source,
                key,
                { token: lastToken, startAt: null, clusterTime: null },
                this.split,
              ),
            );
          }
          continue;
        }
        const token = (stream.resumeToken as { _data?: string } | null)?._data;
        if (token && token !== lastToken && !this.reassemblers(key).pending) {
          lastToken = token;
          this.push({ kind: 'heartbeat', stream: key, token });
        }
        await sleep(idleMs);
      }
    } catch (err) {
      if (this.closed) return;
      this.failure = err;
      this.waiting?.();
    }
  }

  /** The next item, or null when `signal` aborted; throws a stream's failure. */
  async next(signal: AbortSignal, waitMs: number): Promise<StreamItem | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      const item = this.queue.shift();
      if (item) {
        const waiter = this.spaceWaiters.shift();
        waiter?.();
        return item;
      }
      if (signal.aborted) return null;
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), waitMs);
        const onAbort = () => resolve(false);
        signal.addEventListener('abort', onAbort, { once: true });
        this.waiting = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(true);
        };
      });
      this.waiting = undefined;
      if (!woke && this.queue.length === 0 && !this.failure) return null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.spaceWaiters.splice(0)) w();
    await Promise.allSettled([...this.streams.values()].map((s) => s.close()));
    await Promise.allSettled(this.pumps);
  }
}

/** Whether the server refused to resume because its history no longer has the token. */
export function isHistoryLost(err: unknown): boolean {
  const e = err as { code?: unknown; codeName?: unknown; message?: unknown; errorLabels?: unknown };
  if (e?.code === 286 || e?.codeName === 'ChangeStreamHistoryLost') return true;
  if (e?.code === 280 && /resume/i.test(String(e.message))) return true;
  return /resume (point|token).*(no longer|not found|may no longer be in the oplog)/i.test(
    String(e?.message ?? ''),
  );
}

export function historyLostError(name: string, stream: string, cause: unknown): CdcError {
  return new CdcError(
    'SOURCE_POSITION_LOST',
    `capture ${name}: the server no longer has the change history after the stored resume token of stream ${stream} (the oplog rolled past it while the capture was stopped). Set snapshot: when_needed to take a fresh snapshot automatically, or delete the capture's stored position to start over; a larger oplog avoids it`,
    { context: { capture: name, stream }, cause },
  );
}

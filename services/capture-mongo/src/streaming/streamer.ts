/**
 * Streaming: change events → Kafka transactions with their resume tokens.
 *
 * Events are buffered and written with the position (every stream's last token) and any new
 * schema state in ONE Kafka transaction: when the streams have nothing more queued, after
 * `lingerMs`, at `maxChangesPerTransaction` or at `maxBatchBytes`. A restart resumes each
 * stream `startAfter` its committed token, so nothing is lost and nothing repeats.
 *
 * Reactions to collection-level events (see README): `drop` and `rename` write a truncate
 * (`op: 't'`) to every partition of the collection's topic (the documents left it); a rename
 * also logs where they went (they reappear in the target's topic with their next change);
 * `dropDatabase` is logged (its collections' drops came before it); `invalidate` is stored as
 * the stream's token (the stream reopens after it). Other DDL events only move the token.
 */
import {
  type CaptureObserver,
  type ChangeWriter,
  countByTopic,
  deadLetterReason,
  noopObserver,
  type OffsetsStore,
  type OutRecord,
  type TablePauses,
  type TopicSchemas,
  withHeaders,
} from '@cdc/capture';
import { CdcError, type Clock, type Logger, mongoChangeId } from '@cdc/core';
import type { ChangeStreamDocument } from 'mongodb';
import { encodeChange, eventInput, type RecordContext, truncateRecords } from '../change-records.ts';
import type { CollectionRoutes } from '../collections.ts';
import {
  captureId,
  compareTimes,
  includes,
  type OperationTime,
  operationTimeOf,
  type StoredMongoPosition,
} from '../position.ts';
import type { ChangeStreams } from './change-streams.ts';
import type { ControlCommands } from './control-commands.ts';

export interface StreamerOptions {
  name: string;
  include: readonly string[];
  streams: ChangeStreams;
  writer: ChangeWriter;
  offsets: OffsetsStore;
  topics: TopicSchemas;
  routes: CollectionRoutes;
  position: StoredMongoPosition;
  deadLetterTopic: string;
  maxChangesPerTransaction: number;
  maxRecordBytes: number;
  maxBatchBytes?: number;
  heartbeatIntervalMs: number;
  lingerMs?: number;
  /** Metrics and traces (default: none). */
  observer?: CaptureObserver;
  /** The paused collections and the control service's commands (absent: none). */
  pauses?: TablePauses | null;
  commands?: ControlCommands | null;
  logger: Logger;
  clock: Clock;
}

export interface StreamerStats {
  changes: number;
  deadLetters: number;
  transactions: number;
  ignored: number;
}

export class Streamer {
  private readonly o: StreamerOptions;
  private buffer: OutRecord[] = [];
  private bufferBytes = 0;
  private firstBufferedAt = 0;
  private lastCommitAt = 0;
  /** The position including everything buffered. */
  private pending: StoredMongoPosition;
  private pendingMoved = false;
  /** Source time of the last buffered change (null: none since the last commit). */
  private lastSourceTsMs: number | null = null;
  private readonly included: (db: string, collection: string) => boolean;
  readonly stats: StreamerStats = { changes: 0, deadLetters: 0, transactions: 0, ignored: 0 };

  constructor(options: StreamerOptions) {
    this.o = options;
    this.pending = structuredClone(options.position);
    this.included = includes(options.include);
  }

  /** Streams until `signal` aborts (writing what is buffered) or a stream fails (thrown). */
  async run(signal: AbortSignal): Promise<void> {
    const { streams, clock } = this.o;
    const lingerMs = this.o.lingerMs ?? 50;
    const maxBatchBytes = this.o.maxBatchBytes ?? 8 * 1024 * 1024;
    this.lastCommitAt = clock.now();
    while (!signal.aborted) {
      if (this.o.commands && this.o.commands.size > 0) await this.applyCommands();
      const item = await streams.next(signal, Math.min(250, this.o.heartbeatIntervalMs));
      if (item?.kind === 'event') await this.onEvent(item.stream, item.event);
      else if (item?.kind === 'heartbeat') {
        const point = this.pending.streams[item.stream];
        this.pending.streams[item.stream] = {
          token: item.token,
          startAt: null,
          clusterTime: point?.clusterTime ?? null,
        };
        this.pendingMoved = true;
      }
      const now = clock.now();
      if (
        this.buffer.length > 0 &&
        (streams.backlog === 0 ||
          now - this.firstBufferedAt >= lingerMs ||
          this.buffer.length >= this.o.maxChangesPerTransaction ||
          this.bufferBytes >= maxBatchBytes)
      ) {
        await this.flush();
      } else if (
        this.buffer.length === 0 &&
        this.pendingMoved &&
        now - this.lastCommitAt >= this.o.heartbeatIntervalMs
      ) {
        await this.flush(); // an idle stream: store the server's newer token
      }
    }
    if (this.buffer.length > 0 || this.pendingMoved) await this.flush();
    this.o.logger.info('streaming stopped', { ...this.stats });
  }

  private ctx(): RecordContext {
    return {
      name: this.o.name,
      deadLetterTopic: this.o.deadLetterTopic,
      maxRecordBytes: this.o.maxRecordBytes,
      now: this.o.clock.now(),
    };
  }

  /** Pause, resume or resync commands at this point of the stream, each committed before it is acknowledged. */
  private async applyCommands(): Promise<void> {
    const pauses = this.o.pauses;
    for (const c of this.o.commands?.take() ?? []) {
      try {
        if (c.type === 'resync') {
          await c.resync?.(this.streamAt(), async (records) => {
            this.add(records);
            await this.flush();
          });
          c.done();
          continue;
        }
        if (!pauses) throw new Error('this capture holds no paused collections');
        const records =
          c.type === 'pause'
            ? await pauses.pause(c.baseTopic)
            : await pauses.resume(c.baseTopic, this.buffer);
        this.bufferBytes = this.buffer.reduce((n, r) => n + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0);
        this.add(records);
        await this.flush();
        this.o.logger.info(`collection ${c.type}d`, { topic: c.baseTopic, records: records.length });
        c.done();
      } catch (err) {
        c.done(err as Error);
        throw err;
      }
    }
  }

  /** The latest cluster time of what is written or buffered (null: none known). */
  private streamAt(): OperationTime | null {
    let at: OperationTime | null = null;
    for (const p of Object.values(this.pending.streams))
      if (p.clusterTime && (!at || compareTimes(p.clusterTime, at) > 0)) at = p.clusterTime;
    return at;
  }

  private add(records: OutRecord[]): void {
    if (this.buffer.length === 0) this.firstBufferedAt = this.o.clock.now();
    for (const r of this.o.pauses?.route(records) ?? records) {
      this.buffer.push(r);
      this.bufferBytes += (r.value?.length ?? 0) + (r.key?.length ?? 0);
    }
  }

  private async onEvent(stream: string, event: ChangeStreamDocument): Promise<void> {
    const token = (event._id as { _data: string })._data;
    this.pending.streams[stream] = {
      token,
      startAt: null,
      clusterTime: operationTimeOf((event as { clusterTime?: unknown }).clusterTime),
    };
    this.pendingMoved = true;
    const nsDoc = (event as { ns?: { db?: string; coll?: string } }).ns;
    const ns = nsDoc?.db && nsDoc.coll ? `${nsDoc.db}.${nsDoc.coll}` : stream === '*' ? undefined : stream;
    const { routes } = this.o;
    switch (event.operationType) {
      case 'insert':
      case 'update':
      case 'replace':
      case 'delete': {
        if (!ns) throw this.noNamespace(event);
        const [db, coll] = [ns.slice(0, ns.indexOf('.')), ns.slice(ns.indexOf('.') + 1)];
        if (!this.included(db, coll)) {
          this.stats.ignored++;
          return;
        }
        const input = eventInput(event, this.o.clock.now());
        const route = routes.get(ns);
        const encoded = await encodeChange(routes, route, input, this.ctx());
        this.lastSourceTsMs = input.tsMs;
        if (encoded.deadLettered) {
          this.stats.deadLetters++;
          this.observer.deadLettered({
            subject: `collection of ${route.baseTopic}`,
            topic: route.baseTopic,
            reason: deadLetterReason(encoded.records).code,
            message: deadLetterReason(encoded.records).message,
          });
          this.o.logger.warn('change sent to the dead-letter topic', {
            collection: ns,
            operationType: event.operationType,
            changeId: token,
            reason: deadLetterReason(encoded.records).message,
          });
        }
        this.add(encoded.records);
        this.stats.changes++;
        return;
      }
      case 'drop':
      case 'rename': {
        if (!ns) throw this.noNamespace(event);
        const to = (event as { to?: { db: string; coll: string } }).to;
        this.o.logger.warn(
          event.operationType === 'drop'
            ? 'collection dropped: writing a truncate to its topic'
            : 'collection renamed: writing a truncate to its topic; its documents appear under the new name with their next change',
          { collection: ns, ...(to ? { to: `${to.db}.${to.coll}` } : {}) },
        );
        const records = await truncateRecords(
          routes,
          routes.get(ns),
          {
            changeId: mongoChangeId({ resumeToken: token }),
            resumeToken: token,
            tsMs: this.o.clock.now(),
            txId: null,
            snapshot: 'false',
          },
          (topic) => this.o.topics.partitionsOf(topic),
          this.ctx(),
        );
        this.add(records);
        this.stats.changes++;
        return;
      }
      case 'dropDatabase':
        this.o.logger.warn('database dropped', { db: nsDoc?.db ?? ns ?? null });
        return;
      case 'invalidate':
        this.o.logger.warn('change stream invalidated (its collection or database was dropped or renamed)', {
          stream,
        });
        return;
      default:
        this.stats.ignored++;
        return;
    }
  }

  private get observer(): CaptureObserver {
    return this.o.observer ?? noopObserver;
  }

  private noNamespace(event: ChangeStreamDocument): CdcError {
    return new CdcError(
      'SOURCE_UNSUPPORTED',
      `a ${event.operationType} event of the deployment-wide change stream names no namespace (ns): this server cannot serve a deployment stream; set changeStreams: collection`,
      { context: { operationType: event.operationType } },
    );
  }

  /** Writes the buffer, the schema states and the position in one Kafka transaction. */
  private async flush(): Promise<void> {
    const records = this.buffer;
    const position = structuredClone(this.pending);
    const states = this.o.routes.stateRecords();
    try {
      await this.observer.transaction('capture.transaction', (headers) =>
        this.o.writer.commit(
          [...withHeaders(records, headers), ...states.records],
          this.o.offsets.positionRecord(captureId(this.o.name), position),
        ),
      );
    } catch (err) {
      this.observer.aborted();
      throw err;
    }
    states.committed();
    this.observer.committed(countByTopic(records), this.lastSourceTsMs);
    this.lastSourceTsMs = null;
    this.buffer = [];
    this.bufferBytes = 0;
    this.pendingMoved = false;
    this.lastCommitAt = this.o.clock.now();
    this.stats.transactions++;
  }
}

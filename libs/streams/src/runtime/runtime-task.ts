import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@cdc/core';
import { type Admin, fetchStableOffsets, type Kafka, TransactionalProducer } from '@cdc/kafka';
import type { ErrorHandlers } from '../error-handlers.ts';
import { type CacheFlush, CachingBytesStore } from '../internals/stores/caching-bytes-store.ts';
import { LevelBytesStore } from '../internals/stores/level-bytes-store.ts';
import { type AnyStore, typedStore } from '../internals/stores/typed-stores.ts';
import { type OutgoingRecord, type RawRecord, type StreamsMetrics, StreamTask } from '../internals/task.ts';
import type { Subtopology } from '../topology.ts';
import { deleteCheckpoint, readCheckpoint, syncFolder, writeCheckpoint } from './checkpoint.ts';
import { type CommitPart, type CommitSource, Committer } from './committer.ts';
import { restoreChangelogs } from './restore.ts';

export interface RuntimeTaskOptions {
  kafka: Kafka;
  admin: Admin;
  applicationId: string;
  subtopology: Subtopology;
  partition: number;
  stateDir: string;
  topicName: (topic: string, internal: boolean) => string;
  handlers: ErrorHandlers;
  logger: Logger;
  metrics: StreamsMetrics;
  wallClock: () => number;
  globalStores: ReadonlyMap<string, AnyStore>;
  transactionTimeoutMs: number;
  /**
   * At most how long processed work waits for its transaction (Kafka Streams'
   * `commit.interval.ms`): batches processed within it share one commit. 0 commits every batch.
   */
  commitIntervalMs: number;
  onProgress?: () => Promise<void>;
  /**
   * exactly_once_v2: the stream thread's committer, shared by all its tasks (one producer, one
   * transaction per commit for all of them, offsets fenced by group generation). Without it the
   * task has a producer and a committer of its own (`<applicationId>-<taskId>`), fenced by
   * transactional id.
   */
  committer?: Committer;
}

/** How a task closes: see `RuntimeTask.close`. */
export type CloseMode = 'clean' | 'lost' | 'dirty';

export interface InputMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/**
 * Keys a store's cache holds flushed (in a committed changelog) before it writes them to LevelDB
 * in one batch; all of them before a checkpoint. At a steady rate a commit changes a few dozen
 * keys per store: a LevelDB batch per store and commit cost more CPU than the transaction.
 */
const ENGINE_WRITE_EVERY = 4_096;

const NO_HEADERS: Readonly<Record<string, Buffer | string | undefined>> = Object.freeze({});

/** A record's headers, the first value of a repeated one (no object made for a record without any). */
function recordHeaders(h: InputMessage['headers']): Readonly<Record<string, Buffer | string | undefined>> {
  if (h === undefined) return NO_HEADERS;
  let out: Record<string, Buffer | string | undefined> | undefined;
  for (const k in h) {
    const v = h[k];
    out ??= {};
    out[k] = Array.isArray(v) ? v[0] : v;
  }
  return out ?? NO_HEADERS;
}

/**
 * A task running over Kafka: LevelDB stores restored from their changelogs, and commits that
 * hold its outputs, changelog writes and input offsets in a transaction. Under exactly_once the
 * task has its own transactional producer (`<applicationId>-<taskId>`, so that whoever opens the
 * task next fences this one); under exactly_once_v2 its stream thread's committer takes every
 * task's work into one transaction, whose offsets the group coordinator refuses once the group
 * has moved on (see `Committer`).
 */
export class RuntimeTask implements CommitSource {
  readonly id: string;
  readonly partition: number;
  readonly subtopology: Subtopology;
  private readonly options: RuntimeTaskOptions;
  private readonly committer: Committer;
  /** Whether the committer (and its producer) is this task's alone (exactly_once). */
  private readonly ownCommitter: boolean;
  private readonly bytes: Map<string, LevelBytesStore>;
  /** The stores as processors write them: in memory until the next commit flushes them. */
  private readonly caches: CachingBytesStore[];
  private readonly task: StreamTask;
  private readonly dir: string;
  private readonly changelogs: Map<string, string>;
  /** Per changelog: where the restore at open ended (the local stores hold everything before). */
  private readonly restoredTo: Map<string, number>;
  private pending: OutgoingRecord[] = [];
  /** Next offset to process per input topic (committed, or processed and about to be). */
  private readonly next: Map<string, number>;
  private dirtyOffsets = false;
  private closed = false;

  private constructor(
    options: RuntimeTaskOptions,
    init: {
      id: string;
      dir: string;
      committer: Committer;
      ownCommitter: boolean;
      bytes: Map<string, LevelBytesStore>;
      caches: CachingBytesStore[];
      changelogs: Map<string, string>;
      restoredTo: Map<string, number>;
      next: Map<string, number>;
      stores: Map<string, AnyStore>;
    },
  ) {
    this.options = options;
    this.id = init.id;
    this.partition = options.partition;
    this.subtopology = options.subtopology;
    this.dir = init.dir;
    this.committer = init.committer;
    this.ownCommitter = init.ownCommitter;
    this.bytes = init.bytes;
    this.caches = init.caches;
    this.changelogs = init.changelogs;
    this.restoredTo = init.restoredTo;
    this.next = init.next;
    this.task = new StreamTask({
      id: init.id,
      partition: options.partition,
      subtopology: options.subtopology,
      stores: init.stores,
      globalStores: options.globalStores,
      collector: { send: (r) => this.pending.push(r) },
      topicName: options.topicName,
      wallClock: options.wallClock,
      handlers: options.handlers,
      logger: options.logger,
      metrics: options.metrics,
    });
  }

  /**
   * Fences the previous owner (exactly_once: by initializing the task's transactional id;
   * exactly_once_v2: by reading the committed input offsets stably, which waits for the previous
   * owner's transaction to end), restores the stores, reads the committed input offsets.
   */
  static async open(options: RuntimeTaskOptions): Promise<RuntimeTask> {
    const { applicationId, subtopology: st, partition, admin, topicName, logger } = options;
    const id = `${st.id}_${partition}`;
    const log = logger.child({ task: id });
    const dir = join(options.stateDir, applicationId, id);
    const inputTopics = st.sources.flatMap((s) => s.topics.map((t) => topicName(t, s.internal)));
    const next = new Map<string, number>();
    const readCommitted = async () => {
      // Stable: once a transaction that commits these offsets has ended (exactly_once_v2: the
      // previous owner's last one; its changelog records are then all in or all out).
      const committed = await fetchStableOffsets(
        admin,
        applicationId,
        inputTopics,
        options.transactionTimeoutMs + 30_000,
        options.onProgress,
      );
      for (const t of inputTopics) next.set(t, committed.get(t)?.get(partition) ?? -1);
    };
    const ownCommitter = options.committer === undefined;
    let committer = options.committer;
    if (committer === undefined) {
      committer = await Committer.open({
        connect: () =>
          TransactionalProducer.connect(options.kafka, {
            transactionalId: `${applicationId}-${id}`,
            transactionTimeoutMs: options.transactionTimeoutMs,
            logger: log,
          }),
        groupId: applicationId,
        commitIntervalMs: options.commitIntervalMs,
        wallClock: options.wallClock,
      });
    } else {
      await readCommitted();
    }
    const bytes = new Map<string, LevelBytesStore>();
    try {
      const checkpoint = await readCheckpoint(dir);
      if (checkpoint === undefined) {
        // No clean close recorded: local state may be ahead of the committed changelog.
        await rm(dir, { recursive: true, force: true });
      }
      await mkdir(dir, { recursive: true });
      await deleteCheckpoint(dir);
      const changelogs = new Map<string, string>();
      const targets = [];
      for (const spec of st.stores) {
        let store = await LevelBytesStore.open(join(dir, spec.name));
        bytes.set(spec.name, store);
        if (!spec.logged) continue;
        const changelog = topicName(`${spec.name}-changelog`, true);
        changelogs.set(spec.name, changelog);
        const end = Number(
          (await admin.fetchTopicOffsets(changelog)).find((o) => o.partition === partition)?.high ?? 0,
        );
        let from = checkpoint?.[changelog] ?? 0;
        if (from > end) {
          log.warn('checkpoint is ahead of the changelog (was it recreated?); restoring from scratch', {
            changelog,
            from,
            end,
          });
          await store.close();
          await rm(join(dir, spec.name), { recursive: true, force: true });
          store = await LevelBytesStore.open(join(dir, spec.name));
          bytes.set(spec.name, store);
          from = 0;
        }
        targets.push({ topic: changelog, partition, from, to: end, store });
      }
      const storeOf = new Map([...changelogs].map(([store, topic]) => [topic, store]));
      const progress = (topic: string) => {
        const store = storeOf.get(topic) as string;
        options.metrics.restoring[store] ??= { restored: 0, estimated: 0 };
        return options.metrics.restoring[store];
      };
      for (const t of targets) if (t.to > t.from) progress(t.topic).estimated += t.to - t.from;
      const restored = await restoreChangelogs(options.kafka, targets, {
        logger: log,
        onRead: (t, offsets) => {
          progress(t.topic).restored += offsets;
        },
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      // Added after the await: other tasks restore meanwhile.
      options.metrics.restored += restored;
      const stores = new Map<string, AnyStore>();
      const caches: CachingBytesStore[] = [];
      for (const spec of st.stores) {
        const raw = bytes.get(spec.name) as LevelBytesStore;
        const changelog = changelogs.get(spec.name);
        const cache = new CachingBytesStore(
          raw,
          changelog === undefined
            ? undefined
            : (key, value) =>
                runtimeTask.pending.push({
                  topic: changelog,
                  partition,
                  key,
                  value,
                  timestamp: options.wallClock(),
                }),
          undefined,
          ENGINE_WRITE_EVERY,
        );
        caches.push(cache);
        stores.set(spec.name, typedStore(spec, cache));
      }
      if (ownCommitter) await readCommitted();
      const runtimeTask: RuntimeTask = new RuntimeTask(
        { ...options, logger: log },
        {
          id,
          dir,
          committer,
          ownCommitter,
          bytes,
          caches,
          changelogs,
          restoredTo: new Map(targets.map((t) => [t.topic, t.to])),
          next,
          stores,
        },
      );
      await runtimeTask.task.init();
      committer.add(runtimeTask);
      log.info('task ready', {
        restoredFrom: Object.fromEntries(targets.map((t) => [t.topic, [t.from, t.to]])),
      });
      return runtimeTask;
    } catch (err) {
      for (const b of bytes.values()) await b.close().catch(() => {});
      if (ownCommitter) await committer.close();
      throw err;
    }
  }

  /** One at a time with every other task of the committer (and its commits). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.committer.lock.run(fn);
  }

  /**
   * Processes a batch of one input partition and commits it in one transaction. `fetchedOffset`
   * is where the fetch that returned the batch started. Returns the offset to seek to when that
   * fetch started past the next offset to process (the consumer moved on while a previous owner's
   * work was fenced away): nothing is processed then.
   *
   * A batch whose first record lies past the next offset is normal otherwise: in a topic written
   * in transactions, commit markers and aborted records take offsets that the consumer never
   * hands over (after every transaction of a repartition topic, the next record is one offset
   * further than the last one processed + 1).
   */
  processBatch(
    topic: string,
    fetchedOffset: number,
    messages: readonly InputMessage[],
    /** The fetch's last offset, transaction markers after the last record included. */
    lastOffset = Number(messages.at(-1)?.offset ?? -1),
  ): Promise<{ seekTo?: number }> {
    return this.exclusive(async () => {
      const first = Number(messages[0]?.offset ?? -1);
      // Closed under our feet (revoked): have the batch delivered again, to whoever owns it.
      if (this.closed) return first >= 0 ? { seekTo: Math.min(first, fetchedOffset) } : {};
      // A transaction still on its way failed: this batch must not be processed into the next.
      const failed = this.committer.failed;
      if (failed) throw failed.error;
      const from = this.next.get(topic) ?? -1;
      if (from >= 0 && fetchedOffset > from) return { seekTo: from };
      for (const m of messages) {
        const offset = Number(m.offset);
        if (from >= 0 && offset < from) continue; // already committed by the previous owner
        const raw: RawRecord = {
          topic,
          partition: this.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          timestamp: Number(m.timestamp),
          headers: recordHeaders(m.headers),
        };
        // A promise only when a serde or processor needed one: most records go through at once.
        const processing = this.task.process(raw);
        if (processing !== undefined) await processing;
        this.next.set(topic, offset + 1);
        this.dirtyOffsets = true;
      }
      // Markers after the last record: the position moves past them, as a Java consumer's does.
      if (messages.length > 0 && (this.next.get(topic) ?? -1) < lastOffset + 1) {
        this.next.set(topic, lastOffset + 1);
        this.dirtyOffsets = true;
      }
      if (this.committer.due) await this.committer.commit();
      return {};
    });
  }

  /**
   * The input of `topic` holds nothing to process before `offset` (a fetch returned only
   * transaction markers or aborted records up to it): the next commit stores that position.
   * Also with no position yet (nothing committed, nothing processed: the fetch began at the
   * partition's start).
   */
  skipTo(topic: string, offset: number): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      const from = this.next.get(topic);
      if (from === undefined || from >= offset) return;
      this.next.set(topic, offset);
      this.dirtyOffsets = true;
    });
  }

  /** Commits what was processed once it has waited `commitIntervalMs` (the commit timer calls it). */
  commitIfDue(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed || !this.committer.due) return;
      await this.committer.commit();
    });
  }

  /** Fires due wall-clock punctuations and commits what they wrote. */
  punctuate(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      await this.task.punctuateWallClock();
      // What it wrote goes with the next commit, at most commitIntervalMs away (the commit timer):
      // a commit per punctuation would, under exactly_once_v2, be one per task of the thread.
      if (this.committer.due) await this.committer.commit();
    });
  }

  /**
   * What this task processed since its last part, for the committer's next transaction: the
   * records held back by processors (combined deltas) and the stores' changelog records join it.
   * The stores' writes reach LevelDB only once that transaction has committed, so LevelDB never
   * holds the work of a transaction that failed. Whatever the task writes from here on belongs
   * to the next commit. Throws when a store lacks committed writes (a LevelDB write failed).
   */
  async takeCommitPart(): Promise<CommitPart | undefined> {
    await this.task.flush();
    const flushes: [CachingBytesStore, CacheFlush][] = [];
    for (const cache of this.caches) {
      const flush = cache.flush();
      if (flush !== undefined) flushes.push([cache, flush]);
    }
    // A failed engine write is kept by its cache: the next commit, or the close, fails on it.
    const committed = () => {
      for (const [cache, flush] of flushes) cache.committed(flush).catch(() => {});
    };
    if (this.pending.length === 0 && !this.dirtyOffsets) {
      committed(); // writes to stores without a changelog only: no transaction to wait for
      return undefined;
    }
    const records = this.pending;
    this.pending = [];
    const offsets = [];
    for (const [topic, offset] of this.next)
      if (offset >= 0) offsets.push({ topic, partition: this.partition, offset });
    this.dirtyOffsets = false;
    return { records, offsets, committed };
  }

  /**
   * Closes the task, and writes the checkpoint when its stores hold exactly what was committed,
   * so that the next open on this machine restores only what was written after it. The
   * transaction on its way, which may hold this task's last part, ends first; the writes of a
   * transaction that failed never reached LevelDB, and are dropped with the work processed
   * since the last part (its next owner redoes it from the committed offsets):
   * - `clean`: commits the work processed since the last commit first (a revoked partition hands
   *   its next owner everything done so far); rejects if that commit failed, after the checkpoint;
   * - `lost` (the group moved on, a transaction failed, or the application failed in Kafka:
   *   that work can no longer be committed): drops it;
   * - `dirty` (the application failed for a cause that may lie in the stores themselves, see
   *   `leavesStoresSound`): no checkpoint, so the next open wipes the stores and restores them
   *   from their changelogs.
   */
  close(mode: CloseMode): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      let wroteCheckpoint = false;
      let lastCommit: { error: unknown } | undefined;
      try {
        if (mode === 'clean') {
          try {
            await this.committer.commit();
            await this.committer.settle();
          } catch (error) {
            lastCommit = { error };
          }
        }
        await this.task.close();
        await this.committer.idle();
        for (const c of this.caches) c.abandon();
        this.pending = [];
        this.dirtyOffsets = false;
        if (mode !== 'dirty' && this.caches.every((c) => c.failed === undefined)) {
          // What the stores hold: the restore, then this task's own committed writes. Not simply
          // the changelog's end as read now: a next owner (this task revoked, or this member
          // removed from the group while it closes) may already write there, and its records
          // must be restored, not claimed, when this machine owns the task again; so may a
          // transaction of this task whose outcome was not learnt (it is restored if it
          // committed). The end is taken when all past this task's last record is its own
          // transaction's commit marker (one offset), so that an ordinary restart restores nothing.
          const checkpoint: Record<string, number> = {};
          for (const changelog of this.changelogs.values()) {
            const restored = this.restoredTo.get(changelog) ?? 0;
            const written = this.committer.writtenEnd(changelog, this.partition);
            const own = Math.max(restored, written ?? 0);
            const marker = written !== undefined && written >= restored ? 1 : 0;
            // Unknown (the cluster is what failed): `own`, and the next open reads past it.
            const end = await this.options.admin
              .fetchTopicOffsets(changelog)
              .then((o) => Number(o.find((p) => p.partition === this.partition)?.high ?? 0))
              .catch(() => Number.POSITIVE_INFINITY);
            checkpoint[changelog] = end <= own + marker ? end : own;
          }
          // The engine holds every committed change before the checkpoint says so.
          await Promise.all(this.caches.map((c) => c.writeAll()));
          for (const b of this.bytes.values()) await b.close();
          for (const b of this.bytes.values()) await syncFolder(b.location);
          await writeCheckpoint(this.dir, checkpoint);
          wroteCheckpoint = true;
        }
      } finally {
        // A transaction on its way ends (commits or fails) before the producer goes, and the
        // engine writes of the caches before their LevelDB stores close.
        this.committer.delete(this);
        if (this.ownCommitter) await this.committer.close();
        else await this.committer.idle();
        await Promise.all(this.caches.map((c) => c.idle()));
        for (const b of this.bytes.values()) await b.close().catch(() => {});
        this.options.logger.info('task closed', { mode, checkpoint: wroteCheckpoint });
      }
      if (lastCommit) throw lastCommit.error;
    });
  }

  /** The next offset to process per input topic (-1: none committed, none processed). */
  positions(): [string, number][] {
    return [...this.next];
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

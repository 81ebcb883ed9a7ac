import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@cdc/core';
import { type Admin, type Kafka, TransactionalProducer } from '@cdc/kafka';
import type { ErrorHandlers } from '../error-handlers.ts';
import { CachingBytesStore } from '../internals/stores/caching-bytes-store.ts';
import { LevelBytesStore } from '../internals/stores/level-bytes-store.ts';
import { type AnyStore, typedStore } from '../internals/stores/typed-stores.ts';
import { type OutgoingRecord, type RawRecord, type StreamsMetrics, StreamTask } from '../internals/task.ts';
import type { Subtopology } from '../topology.ts';
import { deleteCheckpoint, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
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
}

export interface InputMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/** Bytes of records per produce request at most (estimated), half the broker's default batch limit. */
const MAX_SEND_BYTES = 512 * 1024;
const MAX_SEND_RECORDS = 2_000;

type Message = {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  partition?: number;
  headers?: Record<string, Buffer | string>;
};

function hasAny(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** A record's size on the wire, roughly: its bytes and headers plus the per-record framing. */
function recordSize(r: OutgoingRecord): number {
  let n = 24 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  if (r.headers) for (const k in r.headers) n += k.length + (r.headers[k] as Buffer | string).length + 8;
  return n;
}

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
 * A task running over Kafka: its own transactional producer (`<applicationId>-<taskId>`, so that
 * whoever opens the task next fences this one), LevelDB stores restored from their changelogs,
 * and one transaction per commit holding the outputs, the changelog writes and the input offsets.
 */
export class RuntimeTask {
  readonly id: string;
  readonly partition: number;
  readonly subtopology: Subtopology;
  private readonly options: RuntimeTaskOptions;
  private readonly producer: TransactionalProducer;
  private readonly bytes: Map<string, LevelBytesStore>;
  /** The stores as processors write them: in memory until the next commit flushes them. */
  private readonly caches: CachingBytesStore[];
  private readonly task: StreamTask;
  private readonly dir: string;
  private readonly changelogs: Map<string, string>;
  private pending: OutgoingRecord[] = [];
  /** Next offset to process per input topic (committed, or processed and about to be). */
  private readonly next: Map<string, number>;
  private dirtyOffsets = false;
  /** Wall-clock time of the last commit (or of the open). */
  private lastCommitAt: number;
  private lock: Promise<unknown> = Promise.resolve();
  private closed = false;
  /**
   * The transaction of the last commit while it is on its way to the broker: the task goes on
   * processing meanwhile (into the next transaction), and the next commit waits for it first.
   */
  private committing: Promise<void> | undefined;
  /** Why that transaction failed: every later commit, batch and close of the task sees it. */
  private commitFailure: { error: unknown } | undefined;

  private constructor(
    options: RuntimeTaskOptions,
    init: {
      id: string;
      dir: string;
      producer: TransactionalProducer;
      bytes: Map<string, LevelBytesStore>;
      caches: CachingBytesStore[];
      changelogs: Map<string, string>;
      next: Map<string, number>;
      stores: Map<string, AnyStore>;
    },
  ) {
    this.options = options;
    this.id = init.id;
    this.partition = options.partition;
    this.subtopology = options.subtopology;
    this.dir = init.dir;
    this.producer = init.producer;
    this.bytes = init.bytes;
    this.caches = init.caches;
    this.changelogs = init.changelogs;
    this.next = init.next;
    this.lastCommitAt = options.wallClock();
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

  /** Fences the previous owner, restores the stores, reads the committed input offsets. */
  static async open(options: RuntimeTaskOptions): Promise<RuntimeTask> {
    const { applicationId, subtopology: st, partition, admin, topicName, logger } = options;
    const id = `${st.id}_${partition}`;
    const log = logger.child({ task: id });
    const dir = join(options.stateDir, applicationId, id);
    const producer = await TransactionalProducer.connect(options.kafka, {
      transactionalId: `${applicationId}-${id}`,
      transactionTimeoutMs: options.transactionTimeoutMs,
      logger: log,
    });
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
      await restoreChangelogs(options.kafka, targets, {
        logger: log,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
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
        );
        caches.push(cache);
        stores.set(spec.name, typedStore(spec, cache));
      }
      const inputTopics = st.sources.flatMap((s) => s.topics.map((t) => topicName(t, s.internal)));
      const committed = await admin.fetchOffsets({ groupId: applicationId, topics: inputTopics });
      const next = new Map<string, number>();
      for (const t of committed) {
        const o = Number(t.partitions.find((p) => p.partition === partition)?.offset ?? -1);
        next.set(t.topic, o);
      }
      const runtimeTask: RuntimeTask = new RuntimeTask(
        { ...options, logger: log },
        { id, dir, producer, bytes, caches, changelogs, next, stores },
      );
      await runtimeTask.task.init();
      log.info('task ready', {
        restoredFrom: Object.fromEntries(targets.map((t) => [t.topic, [t.from, t.to]])),
      });
      return runtimeTask;
    } catch (err) {
      for (const b of bytes.values()) await b.close().catch(() => {});
      await producer.disconnect().catch(() => {});
      throw err;
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
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
      if (this.commitFailure) throw this.commitFailure.error;
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
      if (this.due) await this.commit();
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

  /** Whether processed work has waited `commitIntervalMs` for its transaction. */
  private get due(): boolean {
    return this.options.wallClock() - this.lastCommitAt >= this.options.commitIntervalMs;
  }

  /** Commits what was processed once it has waited `commitIntervalMs` (the commit timer calls it). */
  commitIfDue(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed || !this.due) return;
      await this.commit();
    });
  }

  /** Fires due wall-clock punctuations and commits what they wrote. */
  punctuate(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      await this.task.punctuateWallClock();
      await this.commit();
    });
  }

  /** Waits for the transaction on its way, if any; throws its failure. */
  private async settle(): Promise<void> {
    if (this.committing) await this.committing;
    if (this.commitFailure) throw this.commitFailure.error;
  }

  /**
   * Takes everything processed since the last commit into one transaction (outputs, changelog
   * records, input offsets) and sends it on its way: it returns once the transaction is taken and
   * begun, not committed, so that the task processes its next batches (and the consumer fetches
   * them) while the broker commits. One transaction at a time: it first waits for the previous
   * one. Exactly-once is unchanged: what the transaction holds is fixed here, synchronously, and
   * a failure of it fails every later commit, batch and the close (no checkpoint: the next owner
   * restores from the changelog what was committed).
   */
  private async commit(): Promise<void> {
    await this.settle();
    this.lastCommitAt = this.options.wallClock();
    // Records held back by processors (combined deltas) belong to this transaction too.
    await this.task.flush();
    // Store changes: their changelog records join this transaction now; the engine writes go on
    // in the background and the transaction waits for them (a failed write fails it).
    const written = Promise.all(this.caches.map((cache) => cache.flush()));
    // Awaited by the transaction below; a transaction that fails before it leaves it unawaited.
    written.catch(() => {});
    if (this.pending.length === 0 && !this.dirtyOffsets) {
      await written;
      return;
    }
    // Taken whole: whatever is written from here on belongs to the next commit.
    const records = this.pending;
    this.pending = [];
    const byTopic = new Map<string, OutgoingRecord[]>();
    for (const r of records) {
      const list = byTopic.get(r.topic);
      if (list === undefined) byTopic.set(r.topic, [r]);
      else list.push(r);
    }
    const offsets = [...this.next]
      .filter(([, o]) => o >= 0)
      .map(([topic, offset]) => ({
        topic,
        partitions: [{ partition: this.partition, offset: String(offset) }],
      }));
    this.dirtyOffsets = false;
    const transaction = this.producer.transaction(async (tx) => {
      // Every topic's records in one send (its partitions join the transaction in one request,
      // one produce request carries them all), not a send per topic one after the other. A
      // produce request carries one record batch per partition, and the broker refuses a batch
      // past its max.message.bytes (1 MiB by default): sent in slices well below that. A cap on
      // records too: published kafkajs groups a send's messages by partition in time quadratic in
      // their number (patches/ makes that linear; the cap bounds any other copy).
      let slice: { topic: string; messages: Message[] }[] = [];
      let count = 0;
      let bytes = 0;
      for (const [topic, list] of byTopic) {
        let messages: Message[] = [];
        slice.push({ topic, messages });
        for (const r of list) {
          const m: Message = { key: r.key, value: r.value, timestamp: String(r.timestamp) };
          if (r.partition !== undefined) m.partition = r.partition;
          // The collector's records are the task's own copies (see StreamTask's sink): no copy here.
          if (r.headers !== undefined && hasAny(r.headers))
            m.headers = r.headers as Record<string, Buffer | string>;
          messages.push(m);
          count += 1;
          bytes += recordSize(r);
          if (bytes >= MAX_SEND_BYTES || count >= MAX_SEND_RECORDS) {
            await tx.sendBatch({ topicMessages: slice });
            messages = [];
            slice = [{ topic, messages }];
            count = 0;
            bytes = 0;
          }
        }
      }
      slice = slice.filter((t) => t.messages.length > 0);
      if (slice.length > 0) await tx.sendBatch({ topicMessages: slice });
      if (offsets.length > 0)
        await tx.sendOffsets({ consumerGroupId: this.options.applicationId, topics: offsets });
      // The local stores hold this transaction's writes before it commits (none of it is
      // checkpointed until a clean close, which waits for everything).
      await written;
    });
    this.committing = transaction.then(
      () => {
        this.committing = undefined;
      },
      (error: unknown) => {
        this.committing = undefined;
        this.commitFailure ??= { error };
      },
    );
  }

  /**
   * Closes the task. Clean (after a commit): writes the checkpoint so that the next owner on this
   * machine skips the restore. Dirty (after a failure): no checkpoint, so the next open wipes and
   * restores.
   */
  close(clean: boolean): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      let wroteCheckpoint = false;
      try {
        // Work processed since the last commit is committed before a clean close (a revoked
        // partition hands its next owner everything done so far).
        if (clean) {
          await this.commit();
          await this.settle();
        }
        await this.task.close();
        const unflushed = this.caches.some((c) => c.pending > 0);
        if (clean && !unflushed && this.pending.length === 0 && !this.dirtyOffsets) {
          const checkpoint: Record<string, number> = {};
          for (const changelog of this.changelogs.values()) {
            const end = (await this.options.admin.fetchTopicOffsets(changelog)).find(
              (o) => o.partition === this.partition,
            );
            checkpoint[changelog] = Number(end?.high ?? 0);
          }
          for (const b of this.bytes.values()) await b.close();
          await writeCheckpoint(this.dir, checkpoint);
          wroteCheckpoint = true;
        }
      } finally {
        // A transaction on its way ends (commits or fails) before the producer goes, and the
        // engine writes of the caches before their LevelDB stores close.
        await this.committing;
        await Promise.all(this.caches.map((c) => c.idle()));
        for (const b of this.bytes.values()) await b.close().catch(() => {});
        await this.producer.disconnect().catch(() => {});
        this.options.logger.info('task closed', { clean: wroteCheckpoint });
      }
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

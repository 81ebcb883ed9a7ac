import type { ConsumerGroupMetadata, TransactionalProducer, TransactionScope } from '@cdc/kafka';
import type { OutgoingRecord } from '../internals/task.ts';

/** What one task adds to a commit: its records, its input positions, its stores' writes under way. */
export interface CommitPart {
  records: OutgoingRecord[];
  /** The next offset to process, per input topic of the task's partition. */
  offsets: { topic: string; partition: number; offset: number }[];
  /** Called once the transaction that holds this part has committed (its store writes may then reach LevelDB). */
  committed?: () => void;
}

/** A task as a commit sees it: it hands over what it processed since its last part. */
export interface CommitSource {
  takeCommitPart(): Promise<CommitPart | undefined>;
}

/** Runs functions one at a time, in call order (a failed one does not stop the next). */
export class SerialLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }
}

export interface CommitterOptions {
  /** Connects a new session of the committer's producer (initializing its transactional id). */
  connect: () => Promise<TransactionalProducer>;
  /** The consumer group whose offsets the transactions commit (the application id). */
  groupId: string;
  /** At most how long processed work waits for its transaction. */
  commitIntervalMs: number;
  wallClock: () => number;
  /**
   * The consuming member's generation (exactly_once_v2): every transaction's offsets carry it,
   * and the group coordinator refuses them once the group has moved on. Without it (one
   * producer per task), fencing is by transactional id alone.
   */
  group?: () => ConsumerGroupMetadata | undefined;
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

/** Per topic, per partition: the offset after the last record a committed transaction wrote there. */
export type WrittenEnds = Map<string, Map<number, number>>;

/**
 * Every topic's records in as few sends as fit (their partitions join the transaction in one
 * request, one produce request carries them all), not a send per topic. A produce request
 * carries one record batch per partition, and the broker refuses a batch past its
 * max.message.bytes (1 MiB by default): sent in slices well below that. A cap on records too:
 * published kafkajs groups a send's messages by partition in time quadratic in their number
 * (patches/ makes that linear; the cap bounds any other copy).
 *
 * Returns where the records of each partition named by the records themselves (changelogs) end
 * in the log: a batch's base offset, as the broker answered, plus its records. A topic with any
 * record left to the partitioner is not counted (its records could share a batch).
 */
async function sendRecords(tx: TransactionScope, parts: readonly CommitPart[]): Promise<WrittenEnds> {
  const byTopic = new Map<string, Message[]>();
  /** Records per named partition of the slice being filled; -1 for a topic with an unnamed one. */
  let counts = new Map<string, Map<number, number> | -1>();
  const slices: { batch: { topic: string; messages: Message[] }[]; counts: typeof counts }[] = [];
  let count = 0;
  let bytes = 0;
  const cut = () => {
    slices.push({ batch: [...byTopic].map(([topic, messages]) => ({ topic, messages })), counts });
    byTopic.clear();
    counts = new Map();
    count = 0;
    bytes = 0;
  };
  for (const part of parts) {
    for (const r of part.records) {
      const m: Message = { key: r.key, value: r.value, timestamp: String(r.timestamp) };
      let perPartition = counts.get(r.topic);
      if (r.partition !== undefined) {
        m.partition = r.partition;
        if (perPartition === undefined) {
          perPartition = new Map();
          counts.set(r.topic, perPartition);
        }
        if (perPartition !== -1) perPartition.set(r.partition, (perPartition.get(r.partition) ?? 0) + 1);
      } else counts.set(r.topic, -1);
      // The collector's records are the task's own copies (see StreamTask's sink): no copy here.
      if (r.headers !== undefined && hasAny(r.headers))
        m.headers = r.headers as Record<string, Buffer | string>;
      const list = byTopic.get(r.topic);
      if (list === undefined) byTopic.set(r.topic, [m]);
      else list.push(m);
      count += 1;
      bytes += recordSize(r);
      if (bytes >= MAX_SEND_BYTES || count >= MAX_SEND_RECORDS) cut();
    }
  }
  if (count > 0) cut();
  const ends: WrittenEnds = new Map();
  for (const slice of slices) {
    const answers = await tx.sendBatch({ topicMessages: slice.batch });
    for (const a of answers) {
      const n = slice.counts.get(a.topicName);
      const records = n === undefined || n === -1 ? undefined : n.get(a.partition);
      if (records === undefined || a.baseOffset === undefined) continue;
      const topicEnds = ends.get(a.topicName) ?? new Map<number, number>();
      ends.set(a.topicName, topicEnds);
      topicEnds.set(a.partition, Number(a.baseOffset) + records);
    }
  }
  return ends;
}

/**
 * Commits the work of one or more tasks, one transaction at a time, on one transactional
 * producer. With one task per committer (exactly_once: a producer per task) a transaction holds
 * that task's outputs, changelog records and input offsets; with every task of a stream thread
 * (exactly_once_v2) one transaction holds all of theirs, its offsets stamped with the consumer's
 * generation, so a thread commits once per interval however many tasks it runs.
 *
 * Tasks sharing a committer share its lock: processing a batch, a punctuation, a commit and a
 * close of any of them run one at a time, so a commit takes every task's work at a point where
 * none is half-processed.
 *
 * `commit` takes the work synchronously enough to be exact (what the transaction holds is fixed
 * before it returns) and leaves the transaction on its way: the tasks process their next batches
 * while the broker commits. The next commit waits for it first; its failure fails every later
 * commit, batch and close of every task that shares the committer (no checkpoint: the next owner
 * restores from the changelog what was committed).
 */
export class Committer {
  readonly lock = new SerialLock();
  private readonly options: CommitterOptions;
  private producer: TransactionalProducer;
  private readonly sources = new Set<CommitSource>();
  private committing: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;
  private lastCommitAt: number;
  private readonly writtenEnds: WrittenEnds = new Map();

  private constructor(options: CommitterOptions, producer: TransactionalProducer) {
    this.options = options;
    this.producer = producer;
    this.lastCommitAt = options.wallClock();
  }

  static async open(options: CommitterOptions): Promise<Committer> {
    return new Committer(options, await options.connect());
  }

  /**
   * A new producer session in place of one that was fenced (the broker aborted a transaction
   * that outlived its timeout, as after the instance was frozen past it): initializing the
   * transactional id again takes a new epoch. Only once every task that shared the failed
   * transaction is gone.
   */
  async renew(): Promise<void> {
    await this.idle();
    const next = await this.options.connect();
    const old = this.producer;
    this.producer = next;
    this.failure = undefined;
    await old.disconnect().catch(() => {});
  }

  add(source: CommitSource): void {
    this.sources.add(source);
  }

  /** Its work is no longer committed here (a task closed or handed over). */
  delete(source: CommitSource): void {
    this.sources.delete(source);
  }

  /** Whether processed work has waited `commitIntervalMs` for its transaction. */
  get due(): boolean {
    return this.options.wallClock() - this.lastCommitAt >= this.options.commitIntervalMs;
  }

  /** Why the last transaction failed, until `reset`. */
  get failed(): { error: unknown } | undefined {
    return this.failure;
  }

  /** Waits for the transaction on its way, if any; throws its failure. */
  async settle(): Promise<void> {
    if (this.committing) await this.committing;
    if (this.failure) throw this.failure.error;
  }

  /**
   * The offset after the last record that a committed transaction of this committer wrote to
   * `topic`'s `partition` in a partition the record named (a store's changelog); undefined if none.
   * What a task's checkpoint may claim: later records there are another writer's.
   */
  writtenEnd(topic: string, partition: number): number | undefined {
    return this.writtenEnds.get(topic)?.get(partition);
  }

  /** Waits for the transaction on its way, if any; never throws. */
  async idle(): Promise<void> {
    await this.committing;
  }

  /** Forgets a failure once every task it concerned is gone (closed without a checkpoint). */
  reset(): void {
    this.failure = undefined;
  }

  /** Takes every task's work since the last commit into one transaction. The caller holds `lock`. */
  async commit(): Promise<void> {
    await this.settle();
    this.lastCommitAt = this.options.wallClock();
    // Fixed before any part is taken: work processed under one generation is never committed
    // under a later one (a partition revoked meanwhile may already belong to another member).
    const group = this.options.group?.();
    const parts: CommitPart[] = [];
    for (const source of [...this.sources]) {
      const part = await source.takeCommitPart();
      if (part !== undefined) parts.push(part);
    }
    if (parts.length === 0) return;
    const offsets = new Map<string, { partition: number; offset: string }[]>();
    for (const part of parts)
      for (const o of part.offsets) {
        const list = offsets.get(o.topic);
        const entry = { partition: o.partition, offset: String(o.offset) };
        if (list === undefined) offsets.set(o.topic, [entry]);
        else list.push(entry);
      }
    let written: WrittenEnds | undefined;
    const transaction = this.producer.transaction(async (tx) => {
      written = await sendRecords(tx, parts);
      if (offsets.size > 0)
        await tx.sendOffsets({
          consumerGroupId: this.options.groupId,
          topics: [...offsets].map(([topic, partitions]) => ({ topic, partitions })),
          ...(group === undefined ? {} : { consumerGroupMetadata: group }),
        });
    });
    this.committing = transaction.then(
      () => {
        this.committing = undefined;
        for (const p of parts) p.committed?.();
        if (written !== undefined)
          for (const [topic, partitions] of written) {
            const known = this.writtenEnds.get(topic) ?? new Map<number, number>();
            this.writtenEnds.set(topic, known);
            for (const [partition, end] of partitions)
              if (end > (known.get(partition) ?? -1)) known.set(partition, end);
          }
      },
      (error: unknown) => {
        this.committing = undefined;
        this.failure ??= { error };
      },
    );
  }

  /** Waits for the transaction on its way, then disconnects the producer. */
  async close(): Promise<void> {
    await this.idle();
    await this.producer.disconnect().catch(() => {});
  }
}

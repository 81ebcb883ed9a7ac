/**
 * A batch consumer for a sink that writes each batch somewhere else and commits offsets only
 * after that write is durable (at-least-once into an idempotent target, which makes it
 * effectively once). It owns the consumer's lifecycle; the caller owns what a batch does.
 *
 *   const batches = new BatchConsumer({ kafka, groupId: 'sink', topics: () => resolve(), ... });
 *   await batches.start();
 *   const done = batches.run(async (records) => { await write(records); await batches.commit(records); return true; });
 *   // SIGTERM:
 *   await batches.stop(); // stops fetching, hands the last batch to the handler, disconnects
 *
 * - Batching: fetched records are buffered; a batch is handed out when `maxRows` are buffered,
 *   when the oldest buffered record waited `maxWaitMs`, or at once while stopping or switching.
 *   A batch holds at most `maxRows` records (one fetch may bring more: they stay buffered).
 *   One batch is in flight at a time. With a `prepare` step (`run`), the next due batch is taken
 *   while one is in flight and prepared (decoded, say) ahead: one batch ahead at most, handed out
 *   and committed only after the one before it. A rebalance drops it (its records come again).
 *   Under a backlog every batch holds `maxRows`, the first too: batches that started small and
 *   doubled (1,000 records first) cost the sink 5–7 % of its catch-up rate in
 *   loadtests/sink-clickhouse (each insert's fixed cost, and merges of the small parts), to
 *   start its first insert some 40 ms sooner.
 * - Backpressure: past `maxRows` buffered records every assigned partition is paused; after a
 *   batch is handled, consumption resumes if the buffer is below `maxRows` again.
 * - Held topics (`held(topic)`: e.g. a table stopped by an incompatible change) stay paused,
 *   across rebalances too, and are never committed.
 * - Subscription: `topics()` is resolved at start and every `refreshMs`. A changed set switches
 *   the consumer: pause, hand out and finish what is buffered, disconnect (records fetched after
 *   that batch are dropped: uncommitted, they are read again), and start a new consumer in the
 *   same group on the new set; topics without committed offsets start from the earliest offset.
 * - Rebalance: kafkajs restarts every assigned partition from its committed offset, so records
 *   buffered but not yet handed out are dropped (they come again).
 * - Assignment: `assigned` gets the high watermark of each partition's first batch after each
 *   (re)assignment (`unassigned` before it): what an earlier consumer of the partition may have
 *   fetched lies below it.
 * - Transaction markers: a fetch that ends in transaction markers (or aborted records) moves the
 *   committed offset past them once no record before them waits, so a group's lag reaches 0 as a
 *   Java consumer's does.
 *
 * - A consumer kafkajs gave up on (a crash it does not restart after) fails `run`, so that the
 *   owner's supervisor starts it again from what Kafka committed instead of idling while ready.
 *
 * Waiting is driven by events (a fetch, a batch handled, stop, a switch) and the `maxWaitMs`
 * deadline, never by polling.
 */
import { type Clock, type Logger, systemClock } from '@cdc/core';
import type { Consumer, IHeaders, Kafka } from 'kafkajs';
import { onConsumerGaveUp } from './consumer-crash.ts';

/** One fetched record, as handed to the batch handler. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers?: IHeaders;
}

export interface BatchConsumerOptions {
  kafka: Kafka;
  groupId: string;
  /** The topics to consume (sorted), resolved at start and every `refreshMs`. */
  topics: () => Promise<string[]>;
  /** How often `topics` is resolved again; 0: only at start. */
  refreshMs: number;
  /** A batch is handed out once this many records are buffered; consumption pauses past it. */
  maxRows: number;
  /** …or once the oldest buffered record waited this long. */
  maxWaitMs: number;
  sessionTimeoutMs: number;
  /** Fetch size per partition and per request: at least one whole record of the largest kind. */
  fetchBytes: number;
  /** Topics whose partitions stay paused and are never committed. */
  held?: (topic: string) => boolean;
  /** Called for every fetched batch of records (metrics). */
  consumed?: (topic: string, records: number) => void;
  /**
   * Called with the first batch of records fetched for a partition after each assignment (the
   * consumer's join of the group, every rebalance, a switched subscription), with the
   * partition's high watermark as that fetch saw it: no earlier consumer of the partition
   * fetched a record at or past it (not later than this fetch, so it only errs towards a
   * higher mark). `unassigned` comes first whenever the assignment may change.
   */
  assigned?: (topic: string, partition: number, highWatermark: string) => void;
  /** Called when the assignment may change (a rebalance, a join, a new consumer): what `assigned` gave no longer holds. */
  unassigned?: () => void;
  logger: Logger;
  clock?: Clock;
}

/** A batch taken from the buffer, with what `prepare` made of it, and the rebalance count when it was taken. */
interface Taken<P> {
  records: ConsumedRecord[];
  prepared: P | undefined;
  generation: number;
}

/** Per partition, the offset to commit up to (exclusive). */
type Next = Map<string, { topic: string; partition: number; offset: bigint }>;

/** The key of a partition in `commit`'s `limits`. */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/**
 * Where the consumer is: `consuming` (the normal state), `draining` (a switch waits for the
 * buffer and the batch in flight to be finished; batches go out at once and consumption is not
 * resumed), `swapping` (the old consumer is being replaced: nothing is fetched, handed out or
 * committed).
 */
type Phase = 'consuming' | 'draining' | 'swapping';

export class BatchConsumer {
  private readonly options: BatchConsumerOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private consumer: Consumer | undefined;
  private phase: Phase = 'consuming';
  private stopping = false;
  private pausedAll = false;
  private buffer: ConsumedRecord[] = [];
  private bufferSince = 0;
  private inFlight = 0;
  /** The batch taken and being prepared while the one before it is in flight (see `run`). */
  private ahead: ConsumedRecord[] = [];
  /** Counts rebalances: a batch taken ahead before one is dropped. */
  private generation = 0;
  /** Set when `run` ended: a batch not taken yet is not taken any more. */
  private ended = false;
  private subscribed: string[] = [];
  private assigned: string[] = [];
  /** The partitions (`partitionKey`) a batch was fetched for since the assignment (`options.assigned`). */
  private readonly fetchedSinceAssigned = new Set<string>();
  /**
   * Per partition, the offset past a run of transaction markers (or aborted records) read after
   * its last record: committed with the next commit once no record before it waits unhandled
   * (several transactional producers writing one topic leave several markers at its end).
   */
  private readonly markerTails: Next = new Map();
  private readonly abort = new AbortController();
  private watcher: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  /** Resolved (and replaced) whenever something a waiter looks at changed. */
  private wake = Promise.withResolvers<void>();
  private switches = 0;
  /** Set when kafkajs gave up on the consumer: `run` rejects with it. */
  private gaveUp: Error | undefined;
  /** The last commit asked for (settled, never rejected): the next one is sent after it. */
  private committing: Promise<void> = Promise.resolve();

  constructor(options: BatchConsumerOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
  }

  /** Subscribes to the topics that `topics()` resolves to (if any) and starts watching them; returns them. */
  async start(): Promise<readonly string[]> {
    const topics = await this.options.topics();
    if (topics.length > 0) await this.connect(topics);
    if (this.options.refreshMs > 0) this.watcher = this.watchTopics();
    return topics;
  }

  /**
   * Hands out batches to `handle` until stopped; resolves when the last batch is handled, rejects
   * with the handler's error. `handle` commits what it wrote (`commit`) and returns false when it
   * gave up on the batch because of the stop (nothing committed: the records are read again).
   *
   * `prepare` (optional): while a batch is handled, the next one is taken as soon as it is due
   * and `prepare(records)` started on it; `handle` gets that result with the batch (undefined for
   * a batch taken while nothing was in flight: the first one). One batch ahead at most: the
   * records held are the batch in flight, the one ahead, the buffer (up to `maxRows`) and one
   * fetch. A batch ahead is committed only by its own `handle`, after the one before it; records
   * of a batch ahead hold back transaction markers after them like buffered ones; a rebalance
   * drops it (kafkajs fetches its records again). A rejected `prepare` result rejects only where
   * `handle` awaits it.
   */
  run<P>(
    handle: (records: ConsumedRecord[], prepared: P | undefined) => Promise<boolean>,
    prepare?: (records: ConsumedRecord[]) => P,
  ): Promise<void> {
    this.loop ??= this.handOut(handle, prepare);
    return this.loop;
  }

  private async handOut<P>(
    handle: (records: ConsumedRecord[], prepared: P | undefined) => Promise<boolean>,
    prepare: ((records: ConsumedRecord[]) => P) | undefined,
  ): Promise<void> {
    const { maxRows } = this.options;
    let next: Promise<Taken<P> | undefined> | undefined;
    try {
      for (;;) {
        const batch = await (next ?? this.take<P>(undefined));
        next = undefined;
        this.ahead = [];
        if (batch === undefined) return;
        // Taken ahead before a rebalance: kafkajs fetches these records again.
        if (batch.generation !== this.generation) continue;
        this.inFlight = batch.records.length;
        if (prepare) {
          // Fetch on while this batch is handled, so that the next one can be taken and prepared.
          if (this.buffer.length < maxRows && !this.stopping && this.phase === 'consuming') this.resume();
          next = this.take(prepare);
        }
        const handled = await handle(batch.records, batch.prepared);
        this.inFlight = 0;
        this.changed();
        if (!handled) return;
        if (this.buffer.length < maxRows && !this.stopping && this.phase === 'consuming') this.resume();
      }
    } finally {
      this.ended = true;
      this.ahead = [];
      this.changed();
    }
  }

  /** The next due batch, with `prepare` started on it (then it is the batch ahead); undefined once ended. */
  private async take<P>(
    prepare: ((records: ConsumedRecord[]) => P) | undefined,
  ): Promise<Taken<P> | undefined> {
    const records = await this.nextBatch();
    if (records === undefined) return undefined;
    const generation = this.generation;
    if (prepare === undefined) return { records, prepared: undefined, generation };
    this.ahead = records;
    const prepared = prepare(records);
    // Awaited by `handle`; a batch dropped unhandled must not leave an unhandled rejection.
    if (prepared instanceof Promise) prepared.catch(() => undefined);
    return { records, prepared, generation };
  }

  /** The next due batch; undefined once stopping with nothing buffered. */
  private async nextBatch(): Promise<ConsumedRecord[] | undefined> {
    const { maxRows, maxWaitMs } = this.options;
    for (;;) {
      if (this.ended) return undefined;
      if (this.gaveUp) throw this.gaveUp;
      const waited = this.clock.now() - this.bufferSince;
      const due =
        this.buffer.length >= maxRows ||
        (this.buffer.length > 0 && (waited >= maxWaitMs || this.stopping || this.phase === 'draining'));
      if (due && this.phase !== 'swapping') {
        // At most `maxRows`: a fetch may bring many more (the rest stays buffered, due at once).
        if (this.buffer.length > maxRows) return this.buffer.splice(0, maxRows);
        const records = this.buffer;
        this.buffer = [];
        this.bufferSince = this.clock.now();
        return records;
      }
      if (this.stopping) return undefined;
      const woken = this.wake.promise;
      // Markers after records still in flight wait for their commit.
      if (
        this.buffer.length === 0 &&
        this.inFlight === 0 &&
        this.ahead.length === 0 &&
        this.markerTails.size > 0 &&
        this.phase !== 'swapping'
      )
        await this.commit([]);
      await this.waitFor(woken, this.buffer.length > 0 ? maxWaitMs - waited : undefined);
    }
  }

  /** Waits until `woken` resolves or `ms` passed (no deadline: until woken). */
  private async waitFor(woken: Promise<void>, ms: number | undefined): Promise<void> {
    if (ms === undefined) return woken;
    const timer = new AbortController();
    try {
      await Promise.race([woken, this.clock.sleep(Math.max(0, ms), timer.signal)]);
    } finally {
      timer.abort();
    }
  }

  private changed(): void {
    this.wake.resolve();
    this.wake = Promise.withResolvers<void>();
  }

  /** A consumer in the group on `topics`, fetching into the buffer. */
  private async connect(topics: string[]): Promise<void> {
    const { kafka, groupId, sessionTimeoutMs, fetchBytes, maxRows } = this.options;
    const consumer = kafka.consumer({
      groupId,
      maxWaitTimeInMs: 250,
      sessionTimeout: sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeoutMs / 3)),
      maxBytesPerPartition: fetchBytes,
      maxBytes: fetchBytes,
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      if (this.consumer !== consumer) return;
      this.assigned = Object.keys(e.payload.memberAssignment);
      this.reassigned();
      if (this.pausedAll) this.pause();
      for (const t of this.assigned.filter((a) => this.isHeld(a))) consumer.pause([{ topic: t }]);
    });
    onConsumerGaveUp(consumer, `consuming group ${groupId}`, (err) => {
      if (this.consumer !== consumer || this.stopping) return;
      this.gaveUp = err;
      this.changed();
    });
    consumer.on(consumer.events.REBALANCING, () => {
      // kafkajs restarts every assigned partition from its committed offset after a rebalance:
      // records buffered but not yet handed out would come again, so they are dropped here.
      this.buffer = [];
      this.generation += 1;
      this.markerTails.clear();
      this.reassigned();
      this.changed();
    });
    // A fetch that held only transaction markers (or aborted records) never reaches eachBatch:
    // remember how far it went, to commit past it once everything before it is handled.
    consumer.on(consumer.events.START_BATCH_PROCESS, (e) => {
      if (this.consumer !== consumer || this.phase === 'swapping' || e.payload.batchSize !== 0) return;
      const next = BigInt(e.payload.lastOffset) + 1n;
      const k = partitionKey(e.payload.topic, e.payload.partition);
      if ((this.markerTails.get(k)?.offset ?? -1n) < next) {
        this.markerTails.set(k, { topic: e.payload.topic, partition: e.payload.partition, offset: next });
        this.changed();
      }
    });
    this.consumer = consumer;
    this.assigned = [];
    this.markerTails.clear();
    this.reassigned();
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async ({ batch }) => {
          if (this.consumer !== consumer || this.phase === 'swapping') return;
          if (this.buffer.length === 0) this.bufferSince = this.clock.now();
          const messages = batch.messages;
          if (this.options.assigned !== undefined && messages.length > 0) {
            const k = partitionKey(batch.topic, batch.partition);
            if (!this.fetchedSinceAssigned.has(k)) {
              this.fetchedSinceAssigned.add(k);
              this.options.assigned(batch.topic, batch.partition, batch.highWatermark);
            }
          }
          // Indexed loops over the records here and below: a for-of over them (run once per batch,
          // not optimized) made an iterator result per record.
          for (let i = 0; i < messages.length; i++) {
            const m = messages[i]!;
            this.buffer.push({
              topic: batch.topic,
              partition: batch.partition,
              offset: m.offset,
              key: m.key,
              value: m.value,
              timestamp: m.timestamp,
              headers: m.headers,
            });
          }
          // Transaction markers fetched after the batch's last record: commit past them with it.
          const last = batch.messages.at(-1);
          const end = BigInt(batch.lastOffset()) + 1n;
          if (last !== undefined && end > BigInt(last.offset) + 1n)
            this.markerTails.set(partitionKey(batch.topic, batch.partition), {
              topic: batch.topic,
              partition: batch.partition,
              offset: end,
            });
          this.options.consumed?.(batch.topic, batch.messages.length);
          if (this.buffer.length >= maxRows) this.pause();
          this.changed();
        },
      });
    } catch (err) {
      this.consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    this.subscribed = topics;
  }

  /** Every `refreshMs`: resolve `topics` again; a changed set switches the consumer. */
  private async watchTopics(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.clock.sleep(this.options.refreshMs, this.abort.signal);
      } catch {
        return;
      }
      if (this.stopping) return;
      try {
        const topics = await this.options.topics();
        if (!sameTopics(topics, this.subscribed)) await this.resubscribe(topics);
      } catch (err) {
        this.logger.warn('re-resolving the topics failed; trying again at the next refresh', { err });
      }
    }
  }

  /**
   * Finish and commit what is buffered, then replace the consumer by one on `topics` (same
   * group). Records fetched after the last batch are dropped before the old consumer goes:
   * they are not committed, so the new consumer reads them again.
   */
  private async resubscribe(topics: string[]): Promise<void> {
    const added = topics.filter((t) => !this.subscribed.includes(t));
    const removed = this.subscribed.filter((t) => !topics.includes(t));
    this.logger.info('topics changed: switching the subscription', { added, removed });
    this.phase = 'draining';
    this.changed();
    try {
      this.pause();
      // Batches go out at once while draining; wait until nothing is buffered or in flight.
      while (!this.stopping && (this.buffer.length > 0 || this.inFlight > 0 || this.ahead.length > 0))
        await this.wake.promise;
      if (this.stopping) return;
      this.phase = 'swapping';
      const old = this.consumer;
      this.consumer = undefined;
      this.subscribed = [];
      await this.committing;
      await old?.disconnect();
      this.buffer = [];
      this.pausedAll = false;
      this.assigned = [];
      await this.connect(topics);
      this.switches += 1;
    } finally {
      this.phase = 'consuming';
      this.changed();
    }
  }

  /** The assignment may change: the next batch of each partition is its first (`options.assigned`). */
  private reassigned(): void {
    this.fetchedSinceAssigned.clear();
    this.options.unassigned?.();
  }

  private isHeld(topic: string): boolean {
    return this.options.held?.(topic) ?? false;
  }

  /** Pauses every assigned partition (and those of buffered records) until `resume`. */
  pause(): void {
    if (!this.consumer) return;
    this.pausedAll = true;
    const topics = new Set(this.assigned);
    // The buffer mostly holds runs of one topic: no array of its topics, one per record.
    let last: string | undefined;
    for (let i = 0; i < this.buffer.length; i++) {
      const topic = this.buffer[i]!.topic;
      if (topic === last) continue;
      last = topic;
      topics.add(topic);
    }
    if (topics.size > 0) this.consumer.pause([...topics].map((topic) => ({ topic })));
  }

  /** Resumes what `pause` paused, except held topics. */
  resume(): void {
    if (!this.consumer || !this.pausedAll) return;
    this.pausedAll = false;
    const topics = this.assigned.filter((t) => !this.isHeld(t));
    if (topics.length > 0) this.consumer.resume(topics.map((topic) => ({ topic })));
  }

  /** Pauses these topics (newly held ones): they stay paused until the process restarts. */
  pauseTopics(topics: readonly string[]): void {
    this.consumer?.pause(topics.map((topic) => ({ topic })));
  }

  /**
   * Commits past `records` (handled), except held topics; `limits` caps a partition at the first
   * offset that was not written. Transaction markers read after handled records go with them.
   * A failed commit is logged, not thrown: after a rebalance the records come again.
   *
   * Commits are sent one after another, in the order asked for; what to commit is decided at the
   * call. The promise resolves when this commit (and every one before it) has landed: a caller
   * may write its next batch meanwhile (the sink does: its next insert overlaps this round trip),
   * and `stop` and a subscription switch wait for every commit before the consumer goes.
   */
  commit(
    records: readonly Pick<ConsumedRecord, 'topic' | 'partition' | 'offset'>[],
    limits: ReadonlyMap<string, bigint> = new Map(),
  ): Promise<void> {
    if (!this.consumer) return this.committing;
    const next: Next = new Map();
    for (const [k, range] of offsetRanges(records, (topic) => this.isHeld(topic))) {
      const max = limits.get(k);
      const o = BigInt(range.last) + 1n;
      next.set(k, {
        topic: range.topic,
        partition: range.partition,
        offset: max !== undefined && o > max ? max : o,
      });
    }
    for (const [k, tail] of this.markerTails) {
      if (this.isHeld(tail.topic) || limits.has(k)) continue;
      // Records delivered before the markers and not yet handled hold the partition back.
      const before = (r: ConsumedRecord) =>
        r.topic === tail.topic && r.partition === tail.partition && BigInt(r.offset) < tail.offset;
      const waiting = this.buffer.some(before) || this.ahead.some(before);
      if (waiting) continue;
      if ((next.get(k)?.offset ?? -1n) < tail.offset) next.set(k, tail);
      this.markerTails.delete(k);
    }
    if (next.size === 0) return this.committing;
    const consumer = this.consumer;
    const offsets = [...next.values()].map((n) => ({
      topic: n.topic,
      partition: n.partition,
      offset: n.offset.toString(),
    }));
    this.committing = this.committing.then(async () => {
      try {
        await consumer.commitOffsets(offsets);
      } catch (err) {
        // After a rebalance the records come again; their rows are already written with the same versions.
        this.logger.warn('committing offsets failed; the records will be read again (idempotent)', { err });
      }
    });
    return this.committing;
  }

  /** Resolves when every commit asked for so far has landed (or failed, logged). */
  get committed(): Promise<void> {
    return this.committing;
  }

  /**
   * Stops fetching, lets `run` hand out what is buffered and finish, then disconnects. Rejects
   * with the handler's error if `run` ended with one (after disconnecting).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.pause();
    this.abort.abort();
    this.changed();
    await this.watcher;
    try {
      await this.loop;
    } finally {
      await this.committing;
      await this.consumer?.disconnect();
    }
  }

  /** Whether `stop` was called. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** The topics consumed now (sorted). */
  get topics(): readonly string[] {
    return this.subscribed;
  }

  /** Records held in memory: buffered, the batch in flight and the one ahead (bounded by `maxRows` plus one fetch, plus one batch with `prepare`). */
  get bufferedRecords(): number {
    return this.buffer.length + this.inFlight + this.ahead.length;
  }

  /** Whether consumption is paused (buffer full, or the handler failing and pausing it). */
  get paused(): boolean {
    return this.pausedAll;
  }

  /** How many times the subscription was switched to a new set of topics. */
  get resubscriptions(): number {
    return this.switches;
  }
}

/** `a < b` for offsets as Kafka gives them (decimal digits without leading zeros), without a bigint. */
export function offsetBefore(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b;
}

/**
 * Per partition (`partitionKey`) of `records`, its first and last offset, skipping the topics
 * `skip` names (asked once per run of a topic). No bigint, string or lookup per record: a run
 * of one partition's records costs a comparison each.
 */
export function offsetRanges(
  records: readonly Pick<ConsumedRecord, 'topic' | 'partition' | 'offset'>[],
  skip: (topic: string) => boolean = () => false,
): Map<string, { topic: string; partition: number; first: string; last: string }> {
  const ranges = new Map<string, { topic: string; partition: number; first: string; last: string }>();
  let range: { topic: string; partition: number; first: string; last: string } | undefined;
  let topic: string | undefined;
  let skipped = false;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (range === undefined || r.partition !== range.partition || r.topic !== range.topic) {
      if (r.topic !== topic) {
        topic = r.topic;
        skipped = skip(topic);
      }
      if (skipped) {
        range = undefined;
        continue;
      }
      const k = partitionKey(r.topic, r.partition);
      range = ranges.get(k);
      if (range === undefined) {
        range = { topic: r.topic, partition: r.partition, first: r.offset, last: r.offset };
        ranges.set(k, range);
        continue;
      }
    }
    const o = r.offset;
    if (offsetBefore(range.last, o)) range.last = o;
    else if (offsetBefore(o, range.first)) range.first = o;
  }
  return ranges;
}

/** Whether two sorted topic lists are the same. */
export function sameTopics(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

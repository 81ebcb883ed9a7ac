/**
 * The sink: consume → buffer → flush (decode, create/evolve tables, one insert per table with
 * a deduplication token, dead-letter what cannot be written) → commit offsets. Offsets are
 * committed only after the inserts and the dead letters are acknowledged, so a crash at any
 * moment replays records whose rows are already in ClickHouse with the same `_version`:
 * the current state does not change.
 *
 * Backpressure: past `batch.maxRows` buffered records consumption pauses; it resumes after a
 * flush. A flush that fails for a retriable reason (ClickHouse down or slow, registry down) is
 * retried with exponential backoff and full jitter while consumption stays paused: memory is
 * bounded by `maxRows` plus one fetch.
 *
 * Topics: `sink.topics` is resolved against the existing topics at start and every
 * `topicRefreshMs` (subscription.ts). When the set changes (a table or collection created while
 * the pipeline runs), the sink pauses, flushes and commits what it holds, disconnects the
 * consumer (records fetched after that flush are dropped: uncommitted, they are read again) and
 * starts a new one in the same group on the new set; topics without committed offsets start
 * from the earliest offset. Nothing is lost and nothing is inserted twice across the switch.
 */
import type { RegistryClient } from '@cdc/avro';
import type { ClickHouseTransport } from '@cdc/clickhouse';
import {
  backoffDelay,
  CdcError,
  type Clock,
  isCdcError,
  isRetriable,
  type KnownTopics,
  type Logger,
  legacyTableNameForTopic,
  systemClock,
  tableNameForTopic,
} from '@cdc/core';
import type { Admin, Consumer, Kafka, Producer } from '@cdc/kafka';
import type { ClickHouseSinkOptions } from '@cdc/pipeline';
import { DEAD_LETTER_TOPIC_CONFIG, type DeadLetter, FETCH_BYTES, sendDeadLetters } from './dead-letter.ts';
import { type KafkaRecord, RecordDecoder } from './decode.ts';
import { noopObserver, type SinkObserver } from './observer.ts';
import { type TableManager, TRUNCATIONS_TABLE } from './schema/tables.ts';
import { matchTopics, sameTopics } from './subscription.ts';
import { dedupToken, type InsertOptions, insertIsolating, type RowItem } from './table-writer.ts';

export interface SinkDeps {
  kafka: Kafka;
  registry: RegistryClient;
  transport: ClickHouseTransport;
  tables: TableManager;
  options: ClickHouseSinkOptions;
  logger: Logger;
  clock?: Clock;
  insert?: InsertOptions;
  /** Metrics, readiness and traces (default: none). */
  observer?: SinkObserver;
  /** The pipeline's own topic names (offsets topics) beyond the conventions of `topicKind`: never consumed. */
  known?: KnownTopics;
}

export interface FlushStats {
  records: number;
  rows: number;
  deadLettered: number;
  tables: number;
}

/** The table a topic is written to: `clickhouse.sink.tables.<topic>.table`, else `tableNameForTopic` (`@cdc/core`). */
export function tableNameFor(options: ClickHouseSinkOptions, topic: string): string {
  return options.tables[topic]?.table ?? tableNameForTopic(topic);
}

/** A failure to read Kafka or ClickHouse state is an outage: retried with the batch. */
function toRetriable(err: unknown, what: string): unknown {
  if (isCdcError(err)) return err;
  return new CdcError('KAFKA_UNAVAILABLE', `${what}: ${(err as Error)?.message ?? String(err)}`, {
    retriable: true,
    cause: err,
  });
}

interface Pending {
  table: string;
  items: RowItem[];
  records: KafkaRecord[];
  truncations: { version: bigint; changeId: string }[];
}

export class ClickHouseSink {
  private readonly deps: SinkDeps;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly decoder: RecordDecoder;
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;
  private buffer: KafkaRecord[] = [];
  private bufferSince = 0;
  private paused = false;
  private inFlight = 0;
  private stopping = false;
  /** A topic switch is under way: the flush loop flushes at once and does not resume consumption. */
  private switching = false;
  /** Set once the switch drained the buffer: no flush starts until the new consumer runs. */
  private holdFlushes = false;
  private admin: Admin | undefined;
  /** The topics the current consumer is subscribed to (sorted). */
  private subscribed: string[] = [];
  private watcher: Promise<void> | undefined;
  private assigned: string[] = [];
  /**
   * Per partition, the offset past a run of transaction markers (or aborted records) read after
   * its last record: committed with the next commit once no record before it waits unwritten, so
   * that the group's lag reaches 0 as a Java consumer's does (several transactional producers
   * writing one topic leave several markers at its end).
   */
  private readonly markerTails = new Map<string, { topic: string; partition: number; offset: bigint }>();
  /** Tables stopped by an incompatible change: their partitions are never committed again by this process. */
  readonly stoppedTables = new Map<string, Error>();
  /** The table of each topic seen so far (see `resolveTables`). */
  private readonly resolvedTables = new Map<string, string>();
  /** Topics stopped because their table name is another topic's (a collision): their records are not written or committed. */
  readonly stoppedTopics = new Map<string, Error>();
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();
  /** Totals since start, for logs and tests. */
  readonly totals = { records: 0, rows: 0, deadLettered: 0, flushes: 0, retries: 0, resubscriptions: 0 };

  constructor(deps: SinkDeps) {
    this.deps = deps;
    this.logger = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.decoder = new RecordDecoder(deps.registry, (topic) => deps.options.tables[topic]?.keyColumns);
  }

  private get observer(): SinkObserver {
    return this.deps.observer ?? noopObserver;
  }

  private tableFor(topic: string): string {
    return this.resolvedTables.get(topic) ?? tableNameFor(this.deps.options, topic);
  }

  /**
   * Fixes the table of each topic the first time it is seen. Earlier versions named a topic
   * with a `-` with `_` in its place: a topic the group already committed offsets for, whose
   * new-style table does not exist while that older table does, keeps writing the older table
   * (the earlier rows are there), with a warning naming the `clickhouse.sink.tables` entry that
   * makes it explicit. Every other topic gets `tableNameFor`.
   */
  private async resolveTables(topics: Iterable<string>): Promise<void> {
    const { options, tables } = this.deps;
    for (const topic of topics) {
      if (this.resolvedTables.has(topic)) continue;
      const name = tableNameFor(options, topic);
      const legacy = legacyTableNameForTopic(topic);
      let table = name;
      if (
        options.tables[topic]?.table === undefined &&
        legacy !== name &&
        !(await tables.exists(name)) &&
        (await tables.exists(legacy)) &&
        (await this.hasCommitted(topic))
      ) {
        table = legacy;
        this.logger.warn(
          'topic keeps writing the table an earlier version named for it; set its table explicitly to keep it so',
          {
            topic,
            table: legacy,
            defaultTable: name,
            fix: `clickhouse.sink.tables.${JSON.stringify(topic)}.table: ${legacy}`,
          },
        );
      }
      this.resolvedTables.set(topic, table);
    }
  }

  private async hasCommitted(topic: string): Promise<boolean> {
    const offsets = await this.admin!.fetchOffsets({ groupId: this.deps.options.groupId, topics: [topic] });
    return offsets.some((t) => t.partitions.some((p) => Number(p.offset) >= 0));
  }

  async start(): Promise<void> {
    const { kafka, options } = this.deps;
    await this.deps.tables.init();
    this.observer.stoppedTables(this.stopped);
    const admin = kafka.admin();
    await admin.connect();
    this.admin = admin;
    const { ensureTopics } = await import('@cdc/kafka');
    await ensureTopics(admin, [{ topic: options.deadLetterTopic, atLeast: DEAD_LETTER_TOPIC_CONFIG }]);
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
    const topics = await this.matchingTopics();
    if (topics.length > 0) await this.startConsumer(topics);
    else this.logger.info('no topic matches sink.topics yet: waiting for one', { topics: options.topics });
    this.loop = this.flushLoop();
    if (options.topicRefreshMs > 0) this.watcher = this.watchTopics();
    this.logger.info('sink started', {
      groupId: options.groupId,
      topics: options.topics,
      subscribed: topics.length,
      transport: this.deps.transport.kind,
    });
  }

  private async matchingTopics(): Promise<string[]> {
    const { options } = this.deps;
    return matchTopics(
      options.topics,
      await this.admin!.listTopics(),
      options.deadLetterTopic,
      this.deps.known,
    );
  }

  /** A consumer in the sink's group on `topics`, fetching into the buffer. */
  private async startConsumer(topics: string[]): Promise<void> {
    const { kafka, options } = this.deps;
    const consumer = kafka.consumer({
      groupId: options.groupId,
      maxWaitTimeInMs: 250,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor(options.sessionTimeoutMs / 3)),
      // A fetch holds at least one whole record of the captures' largest (maxRecordBytes,
      // 64 MiB by default; the broker returns a larger first record anyway).
      maxBytesPerPartition: FETCH_BYTES,
      maxBytes: FETCH_BYTES,
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      if (this.consumer !== consumer) return;
      this.assigned = Object.keys(e.payload.memberAssignment);
      if (this.paused) this.pauseAll();
      for (const t of this.assigned.filter((a) => this.isStopped(a))) consumer.pause([{ topic: t }]);
    });
    consumer.on(consumer.events.REBALANCING, () => {
      // kafkajs restarts every assigned partition from its committed offset after a rebalance:
      // records buffered but not yet flushing would come again, so they are dropped here.
      this.buffer = [];
      this.markerTails.clear();
    });
    // A fetch that held only transaction markers (or aborted records) never reaches eachBatch:
    // remember how far it went, to commit past it once everything before it is written.
    consumer.on(consumer.events.START_BATCH_PROCESS, (e) => {
      if (this.consumer !== consumer || this.holdFlushes || e.payload.batchSize !== 0) return;
      const next = BigInt(e.payload.lastOffset) + 1n;
      const k = `${e.payload.topic}\u0000${e.payload.partition}`;
      if ((this.markerTails.get(k)?.offset ?? -1n) < next)
        this.markerTails.set(k, { topic: e.payload.topic, partition: e.payload.partition, offset: next });
    });
    this.consumer = consumer;
    this.assigned = [];
    this.markerTails.clear();
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async ({ batch }) => {
          if (this.consumer !== consumer || this.holdFlushes) return;
          if (this.buffer.length === 0) this.bufferSince = this.clock.now();
          for (const m of batch.messages) {
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
            this.markerTails.set(`${batch.topic}\u0000${batch.partition}`, {
              topic: batch.topic,
              partition: batch.partition,
              offset: end,
            });
          this.observer.consumed(batch.topic, batch.messages.length);
          if (this.buffer.length >= options.batch.maxRows) this.pauseAll();
        },
      });
    } catch (err) {
      this.consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    this.subscribed = topics;
  }

  /** Every `topicRefreshMs`: re-resolve `sink.topics`; a changed set switches the consumer. */
  private async watchTopics(): Promise<void> {
    const every = this.deps.options.topicRefreshMs;
    while (!this.stopping) {
      try {
        await this.clock.sleep(every, this.abort.signal);
      } catch {
        return;
      }
      if (this.stopping) return;
      try {
        const topics = await this.matchingTopics();
        if (!sameTopics(topics, this.subscribed)) await this.resubscribe(topics);
      } catch (err) {
        this.logger.warn('re-resolving the sink topics failed; trying again at the next refresh', { err });
      }
    }
  }

  /**
   * Finish and commit what is buffered, then replace the consumer by one on `topics` (same
   * group). Records fetched after the last flush are dropped before the old consumer goes:
   * they are not committed, so the new consumer reads them again.
   */
  private async resubscribe(topics: string[]): Promise<void> {
    const added = topics.filter((t) => !this.subscribed.includes(t));
    const removed = this.subscribed.filter((t) => !topics.includes(t));
    this.logger.info('sink topics changed: switching the subscription', { added, removed });
    this.switching = true;
    try {
      this.pauseAll();
      // The flush loop flushes at once while switching; wait until it holds nothing.
      while (!this.stopping && (this.buffer.length > 0 || this.inFlight > 0)) await this.clock.sleep(10);
      if (this.stopping) return;
      this.holdFlushes = true;
      const old = this.consumer;
      this.consumer = undefined;
      this.subscribed = [];
      await old?.disconnect();
      this.buffer = [];
      this.paused = false;
      this.assigned = [];
      await this.startConsumer(topics);
      this.totals.resubscriptions += 1;
    } finally {
      this.holdFlushes = false;
      this.switching = false;
    }
  }

  /** What is stopped, for the observer: the stopped tables, and each stopped topic under `<table> (topic <topic>)`. */
  private get stopped(): Map<string, Error> {
    const all = new Map(this.stoppedTables);
    for (const [topic, err] of this.stoppedTopics) all.set(`${this.tableFor(topic)} (topic ${topic})`, err);
    return all;
  }

  private isStopped(topic: string): boolean {
    return this.stoppedTables.has(this.tableFor(topic)) || this.stoppedTopics.has(topic);
  }

  private pauseAll(): void {
    if (!this.consumer) return;
    this.paused = true;
    const topics = new Set([...this.assigned, ...this.buffer.map((r) => r.topic)]);
    if (topics.size > 0) this.consumer.pause([...topics].map((topic) => ({ topic })));
  }

  private resumeAll(): void {
    if (!this.consumer || !this.paused) return;
    this.paused = false;
    const topics = this.assigned.filter((t) => !this.isStopped(t));
    if (topics.length > 0) this.consumer.resume(topics.map((topic) => ({ topic })));
  }

  private async flushLoop(): Promise<void> {
    const { maxRows, maxWaitMs } = this.deps.options.batch;
    while (true) {
      const due =
        this.buffer.length >= maxRows ||
        (this.buffer.length > 0 &&
          (this.clock.now() - this.bufferSince >= maxWaitMs || this.stopping || this.switching));
      if (!due || this.holdFlushes) {
        if (this.stopping) return;
        if (this.buffer.length === 0 && this.markerTails.size > 0 && !this.holdFlushes)
          await this.commit([], new Map());
        await this.clock.sleep(10);
        continue;
      }
      const records = this.buffer;
      this.buffer = [];
      this.bufferSince = this.clock.now();
      this.inFlight = records.length;
      const ok = await this.flushWithRetry(records);
      this.inFlight = 0;
      if (!ok) return;
      if (this.buffer.length < maxRows && !this.stopping && !this.switching) this.resumeAll();
    }
  }

  /** Retries retriable failures with backoff until the flush succeeds; false if stopping cut it short (nothing committed). */
  private async flushWithRetry(records: KafkaRecord[]): Promise<boolean> {
    const { initialDelayMs, maxDelayMs } = this.deps.options.retry;
    let stopDeadline: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.observer.flush(records, () => this.flush(records));
        return true;
      } catch (err) {
        this.observer.error(err);
        if (!isRetriable(err)) {
          this.logger.error('flush failed and cannot be retried: stopping the sink', { err });
          throw err;
        }
        if (this.stopping) {
          stopDeadline ??= this.clock.now() + 10_000;
          if (this.clock.now() > stopDeadline) {
            this.logger.warn(
              'stopping during an outage: the batch in flight is not committed and will be read again',
              {
                records: records.length,
              },
            );
            return false;
          }
        }
        this.pauseAll();
        const delay = backoffDelay(attempt, initialDelayMs, maxDelayMs, Math.random);
        this.totals.retries += 1;
        this.logger.warn('flush failed, retrying', { attempt: attempt + 1, delayMs: delay, err });
        await this.clock.sleep(delay);
      }
    }
  }

  /** One batch: decode, ensure tables, insert, dead-letter, commit. Idempotent: safe to retry as a whole. */
  async flush(records: readonly KafkaRecord[]): Promise<FlushStats> {
    const { options, tables, transport } = this.deps;
    const insertOptions = this.deps.insert ?? { dedup: true };
    const pending = new Map<string, Pending>();
    const letters: DeadLetter[] = [];
    const newlyStopped = new Map<string, Error>();
    const stop = (table: string, err: Error) => {
      if (!this.stoppedTables.has(table) && !newlyStopped.has(table)) {
        newlyStopped.set(table, err);
        this.logger.error(
          'table stopped: its records are not written or committed until the cause is fixed and the sink restarted',
          {
            table,
            err,
          },
        );
      }
    };
    const newlyStoppedTopics = new Map<string, Error>();
    const stopTopic = (topic: string, table: string, err: Error) => {
      if (newlyStoppedTopics.has(topic)) return;
      newlyStoppedTopics.set(topic, err);
      this.logger.error(
        'topic stopped: its table name is taken by another topic; its records are not written or committed until the name is changed and the sink restarted',
        { topic, table, err },
      );
    };
    /** Per partition of a table stopped in this batch: the first offset not written (committed up to there). */
    const limits = new Map<string, bigint>();
    const limit = (r: KafkaRecord) => {
      const k = `${r.topic}\u0000${r.partition}`;
      const o = BigInt(r.offset);
      if ((limits.get(k) ?? o + 1n) > o) limits.set(k, o);
    };
    try {
      await this.resolveTables(new Set(records.map((r) => r.topic)));
    } catch (err) {
      throw toRetriable(err, 'resolving the tables of the topics');
    }
    for (const record of records) {
      const table = this.tableFor(record.topic);
      if (this.isStopped(record.topic)) continue;
      if (newlyStopped.has(table) || newlyStoppedTopics.has(record.topic)) {
        limit(record);
        continue;
      }
      let p = pending.get(table);
      if (!p) {
        p = { table, items: [], records: [], truncations: [] };
        pending.set(table, p);
      }
      p.records.push(record);
      let decoded: Awaited<ReturnType<typeof this.decoder.decode>> | undefined;
      try {
        decoded = await this.decoder.decode(record);
        if (decoded.kind === 'skip') continue;
        // A table named in clickhouse.sink.tables may take several topics by design (the user's
        // choice); one named by default takes one topic and one source, refusing a second.
        if (options.tables[record.topic]?.table === undefined)
          await tables.claim(table, {
            topic: record.topic,
            source: decoded.source ?? `topic ${record.topic}`,
          });
        if (decoded.kind === 'truncate') {
          p.truncations.push(decoded);
          continue;
        }
        await tables.ensure(table, decoded.shape, decoded.shapeId);
        const renamed = tables.takeRenames(table);
        // Rows of this batch encoded before a column was renamed carry its old name.
        if (renamed)
          for (const item of p.items)
            for (const [from, to] of renamed)
              if (Object.hasOwn(item.row, from)) {
                item.row[to] = item.row[from];
                delete item.row[from];
              }
        for (const [from, to] of tables.renamesOf(table))
          if (Object.hasOwn(decoded.row, from) && !Object.hasOwn(decoded.row, to)) {
            decoded.row[to] = decoded.row[from];
            delete decoded.row[from];
          }
        p.items.push({ row: decoded.row, record });
      } catch (err) {
        if (isRetriable(err)) throw err;
        if (isCdcError(err) && err.context.collision === 'topic') {
          stopTopic(record.topic, table, err);
          limit(record);
          continue;
        }
        if (
          isCdcError(err, 'SCHEMA_INCOMPATIBLE') &&
          options.onIncompatibleSchema === 'recreate' &&
          decoded?.kind === 'row'
        ) {
          try {
            const schemaId = valueSchemaId(record);
            if (schemaId < (await tables.lastRecreated(table))) {
              // A change from before the table was recreated: the rows read again supersede it.
              this.logger.debug('record of a schema older than the recreated table skipped', {
                table,
                offset: record.offset,
                schemaId,
              });
              continue;
            }
            await tables.recreate(table, schemaId);
            // This batch's earlier rows of the table are in the old shape, older than the change:
            // the source's rows, read again after it, supersede them.
            p.items = [];
            if (options.tables[record.topic]?.table === undefined)
              await tables.claim(table, {
                topic: record.topic,
                source: decoded.source ?? `topic ${record.topic}`,
              });
            await tables.ensure(table, decoded.shape, decoded.shapeId);
            p.items.push({ row: decoded.row, record });
            continue;
          } catch (recreateErr) {
            if (isRetriable(recreateErr)) throw recreateErr;
            stop(table, recreateErr as Error);
            limit(record);
            continue;
          }
        }
        if (isCdcError(err, 'SCHEMA_INCOMPATIBLE') && options.onIncompatibleSchema === 'stop-table') {
          stop(table, err);
          limit(record);
          continue;
        }
        letters.push({ record, table, error: err });
      }
    }
    let rows = 0;
    for (const p of pending.values()) {
      const token = dedupToken(p.records);
      if (p.truncations.length > 0) {
        await tables.init();
        const payload = p.truncations.map((t) => ({
          table_name: p.table,
          _version: t.version,
          _change_id: t.changeId,
        }));
        const rejected = await insertIsolating(
          transport,
          tables.qualified(TRUNCATIONS_TABLE),
          payload.map((row) => ({ row, record: p.records[0]! })),
          `${token}/truncate`,
          insertOptions,
        );
        if (rejected.length > 0) throw rejected[0]!.error;
        this.logger.info('table truncated', {
          table: p.table,
          changes: p.truncations.map((t) => t.changeId),
        });
      }
      try {
        const rejected = await this.observer.insert(p.table, p.items, () =>
          insertIsolating(transport, tables.qualified(p.table), p.items, token, insertOptions),
        );
        for (const r of rejected) letters.push({ record: r.item.record, table: p.table, error: r.error });
        rows += p.items.length - rejected.length;
        await tables.applyDrops(p.table);
      } catch (err) {
        if (isRetriable(err)) throw err;
        // Rejected for a reason other than the data (the table was changed behind the sink's back…).
        stop(
          p.table,
          new CdcError(
            isCdcError(err) ? err.code : 'SINK_REJECTED',
            `${(err as Error).message}. The table no longer matches what the sink made of it (a column dropped or changed by hand?): restart the sink (it checks the table's columns at start and adds what is missing), or drop the table and rebuild it (cdc rebuild ${p.table})`,
            { context: { table: p.table }, cause: err },
          ),
        );
        for (const r of p.records) limit(r);
      }
    }
    if (letters.length > 0) {
      for (const d of letters)
        this.logger.warn('record dead-lettered', {
          topic: d.record.topic,
          partition: d.record.partition,
          offset: d.record.offset,
          table: d.table,
          err: d.error,
        });
      await sendDeadLetters(this.producer!, options.deadLetterTopic, letters);
      this.observer.deadLettered(letters);
    }
    await this.commit(records, limits);
    for (const [t, e] of newlyStopped) this.stoppedTables.set(t, e);
    for (const [t, e] of newlyStoppedTopics) this.stoppedTopics.set(t, e);
    if (newlyStopped.size > 0 || newlyStoppedTopics.size > 0) this.observer.stoppedTables(this.stopped);
    if ((newlyStopped.size > 0 || newlyStoppedTopics.size > 0) && this.consumer) {
      const topics = [...new Set(records.map((r) => r.topic))].filter(
        (t) => newlyStopped.has(this.tableFor(t)) || newlyStoppedTopics.has(t),
      );
      this.consumer.pause(topics.map((topic) => ({ topic })));
    }
    this.totals.records += records.length;
    this.totals.rows += rows;
    this.totals.deadLettered += letters.length;
    this.totals.flushes += 1;
    this.logger.debug('batch flushed', { records: records.length, rows, deadLettered: letters.length });
    return { records: records.length, rows, deadLettered: letters.length, tables: pending.size };
  }

  private async commit(records: readonly KafkaRecord[], limits: Map<string, bigint>): Promise<void> {
    if (!this.consumer) return;
    const next = new Map<string, { topic: string; partition: number; offset: bigint }>();
    for (const r of records) {
      if (this.isStopped(r.topic)) continue;
      const k = `${r.topic}\u0000${r.partition}`;
      const max = limits.get(k);
      const o = max !== undefined && BigInt(r.offset) + 1n > max ? max : BigInt(r.offset) + 1n;
      const cur = next.get(k);
      if (!cur || o > cur.offset) next.set(k, { topic: r.topic, partition: r.partition, offset: o });
    }
    for (const [k, tail] of this.markerTails) {
      if (this.isStopped(tail.topic) || limits.has(k)) continue;
      // Records delivered before the markers and not yet written hold the partition back.
      const waiting = this.buffer.some(
        (r) => r.topic === tail.topic && r.partition === tail.partition && BigInt(r.offset) < tail.offset,
      );
      if (waiting) continue;
      if ((next.get(k)?.offset ?? -1n) < tail.offset) next.set(k, tail);
      this.markerTails.delete(k);
    }
    if (next.size === 0) return;
    try {
      await this.consumer.commitOffsets(
        [...next.values()].map((n) => ({
          topic: n.topic,
          partition: n.partition,
          offset: n.offset.toString(),
        })),
      );
    } catch (err) {
      // After a rebalance the records come again; their rows are already written with the same versions.
      this.logger.warn('committing offsets failed; the records will be read again (idempotent)', { err });
    }
  }

  /** SIGTERM: stop fetching, finish and commit the batch in flight and what is buffered, close. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.pauseAll();
    this.abort.abort();
    await this.watcher;
    try {
      await this.loop;
    } catch (err) {
      this.logger.error('flush loop ended with an error', { err });
    }
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
    this.logger.info('sink stopped', this.totals);
  }

  /** The topics the sink consumes now (sorted). */
  get topics(): readonly string[] {
    return this.subscribed;
  }

  /** Records held in memory: buffered plus the batch being flushed (bounded by `maxRows` plus one fetch). */
  get bufferedRecords(): number {
    return this.buffer.length + this.inFlight;
  }

  /** Whether consumption is paused (buffer full, or ClickHouse failing). */
  get consumptionPaused(): boolean {
    return this.paused;
  }

  /** Resolves when the flush loop ends (stop, or a fatal error). */
  get done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }
}

/** The value schema id of a record in the Confluent wire format (magic byte 0, then the id), else 0. */
function valueSchemaId(record: KafkaRecord): number {
  const v = record.value;
  return v && v.length >= 5 && v[0] === 0 ? v.readInt32BE(1) : 0;
}

/**
 * The sink: consume → buffer → flush (decode, create/evolve tables, one insert per table with
 * a deduplication token, dead-letter what cannot be written) → commit offsets. Offsets are
 * committed only after the inserts and the dead letters are acknowledged, so a crash at any
 * moment replays records whose rows are already in ClickHouse with the same `_version`:
 * the current state does not change.
 *
 * Consuming is `BatchConsumer`'s (`@cdc/kafka`): batching by `batch.maxRows` / `batch.maxWaitMs`,
 * backpressure (past `maxRows` buffered records consumption pauses; it resumes after a flush),
 * rebalances, transaction markers, and the subscription: `sink.topics` is resolved against the
 * existing topics at start and every `topicRefreshMs` (subscription.ts); when the set changes (a
 * table or collection created while the pipeline runs) the consumer flushes and commits what it
 * holds and switches to the new set in the same group. Nothing is lost and nothing is inserted
 * twice across the switch. This file is the flush step: a flush that fails for a retriable
 * reason (ClickHouse down or slow, registry down) is retried with exponential backoff and full
 * jitter while consumption stays paused: memory is bounded by `maxRows` plus one fetch.
 */

import { randomBytes } from 'node:crypto';
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
import {
  type Admin,
  BatchConsumer,
  createIdempotentProducer,
  type IdempotentProducer,
  type Kafka,
  partitionKey,
} from '@cdc/kafka';
import type { ClickHouseSinkOptions } from '@cdc/pipeline';
import { DEAD_LETTER_TOPIC_CONFIG, type DeadLetter, FETCH_BYTES, sendDeadLetters } from './dead-letter.ts';
import { type Decoded, type Decoding, type KafkaRecord, RecordDecoder, type Transcoded } from './decode.ts';
import { DecodePool, POOLED_LINE, POOLED_SKIP, type PooledRecord } from './decode-pool.ts';
import { AssignedEnds, duplicatedBlocks, refillDropped, type WrittenBatch } from './dedup-check.ts';
import { noopObserver, type SinkObserver } from './observer.ts';
import { LineWriter } from './row-encoder.ts';
import { type TableManager, TRUNCATIONS_TABLE } from './schema/tables.ts';
import { matchTopics } from './subscription.ts';
import { type InsertOptions, insertIsolating, insertToken, type RowItem } from './table-writer.ts';

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
  /**
   * Worker threads that decode and encode batches (`decode-pool.ts`); 0: the main thread does it
   * all. Default: the cores available, at most 4.
   */
  decodeThreads?: number;
}

/**
 * Records `decodeAhead` transcodes in one go (2–4 ms of this thread): an insert that ends, a
 * table being prepared or a fetch is attended to within a slice.
 */
const TRANSCODE_SLICE = 512;

/** A batch smaller than this is decoded on the main thread (a worker's round trip is not worth it). */
export const POOL_MIN_RECORDS = 64;

/** A row of the batch, as `flush` collects it: decoded here, or encoded by a decode worker. */
type RowDecoding = Extract<Decoding, { kind: 'row' } | { kind: 'encoded' }>;

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
  private readonly batches: BatchConsumer;
  private producer: IdempotentProducer | undefined;
  private admin: Admin | undefined;
  /** Tables stopped by an incompatible change: their partitions are never committed again by this process. */
  readonly stoppedTables = new Map<string, Error>();
  /** The table of each topic seen so far (see `resolveTables`). */
  private readonly resolvedTables = new Map<string, string>();
  /** Topics stopped because their table name is another topic's (a collision): their records are not written or committed. */
  readonly stoppedTopics = new Map<string, Error>();
  private loop: Promise<void> | undefined;
  private pool: DecodePool | undefined;
  /** The last batch `decodeAhead` started (settled): the next one waits for it. */
  private decoding: Promise<unknown> = Promise.resolve();
  /** Set while a flush runs (from the loop): `decodeAhead` prepares no table then. */
  private flushing = false;
  /** The tables being prepared while a batch is decoded (`prepareTable`, settled): a flush waits for them. */
  private preparing: Promise<void> = Promise.resolve();
  private readonly counts = { records: 0, rows: 0, deadLettered: 0, flushes: 0, retries: 0 };
  /**
   * The engine's count of blocks dropped as duplicates after the last flush (`dedup-check.ts`);
   * undefined after a flush that did not read it.
   */
  private duplicated: number | undefined;
  /**
   * Per assigned partition, its log end when this sink was assigned it: a flush of records all
   * at or past it holds no batch an earlier consumer attempted, and skips the dedup check.
   */
  readonly assignedEnds = new AssignedEnds();
  /** Salts the token of a batch refilled after its insert was dropped (`refillToken`): random per instance. */
  private readonly instance = randomBytes(4).toString('hex');

  constructor(deps: SinkDeps) {
    this.deps = deps;
    this.logger = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.decoder = new RecordDecoder(deps.registry, (topic) => deps.options.tables[topic]?.keyColumns);
    const { options } = deps;
    this.batches = new BatchConsumer({
      kafka: deps.kafka,
      groupId: options.groupId,
      topics: () => this.matchingTopics(),
      refreshMs: options.topicRefreshMs,
      maxRows: options.batch.maxRows,
      maxWaitMs: options.batch.maxWaitMs,
      sessionTimeoutMs: options.sessionTimeoutMs,
      // A fetch holds at least one whole record of the captures' largest (maxRecordBytes,
      // 64 MiB by default; the broker returns a larger first record anyway).
      fetchBytes: FETCH_BYTES,
      held: (topic) => this.isStopped(topic),
      consumed: (topic, n) => this.observer.consumed(topic, n),
      assigned: (topic, partition, highWatermark) => this.assignedEnds.set(topic, partition, highWatermark),
      unassigned: () => this.assignedEnds.clear(),
      logger: deps.logger,
      clock: this.clock,
    });
  }

  /** Totals since start, for logs and tests. */
  get totals(): Readonly<typeof this.counts & { resubscriptions: number }> {
    return { ...this.counts, resubscriptions: this.batches.resubscriptions };
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
    this.producer = createIdempotentProducer(kafka);
    await this.producer.connect();
    const threads = this.deps.decodeThreads;
    if (threads === undefined || threads > 0) {
      const keyColumns: Record<string, readonly string[]> = {};
      for (const [topic, t] of Object.entries(options.tables))
        if (t?.keyColumns !== undefined) keyColumns[topic] = t.keyColumns;
      this.pool = new DecodePool({
        registry: this.deps.registry,
        keyColumns,
        ...(threads === undefined ? {} : { threads }),
        logger: this.logger,
      });
      // A worker that cannot start fails the start, before anything is consumed.
      await this.pool.ready();
    }
    const topics = await this.batches.start();
    if (topics.length === 0)
      this.logger.info('no topic matches sink.topics yet: waiting for one', { topics: options.topics });
    // Batch N+1 is decoded (`decodeAhead`) while batch N is inserted (the engine works off this thread).
    const loop = this.batches.run<Promise<Decoding[]>>(
      (records, decoded) => this.flushWithRetry(records, decoded),
      (records) => this.decodeAhead(records),
    );
    // A decode worker that dies ends the sink at once (the pool's failure contract), also while
    // the transcoder leaves the workers nothing to do.
    this.loop = this.pool === undefined ? loop : Promise.race([loop, this.pool.died]);
    this.logger.info('sink started', {
      groupId: options.groupId,
      topics: options.topics,
      subscribed: topics.length,
      transport: this.deps.transport.kind,
      decodeThreads: this.pool?.threads ?? 0,
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

  /** What is stopped, for the observer: the stopped tables, and each stopped topic under `<table> (topic <topic>)`. */
  private get stopped(): Map<string, Error> {
    const all = new Map(this.stoppedTables);
    for (const [topic, err] of this.stoppedTopics) all.set(`${this.tableFor(topic)} (topic ${topic})`, err);
    return all;
  }

  private isStopped(topic: string): boolean {
    return this.stoppedTables.has(this.tableFor(topic)) || this.stoppedTopics.has(topic);
  }

  /**
   * Decodes a batch while the one before it is written: after a turn of the event loop, so that
   * the batch in flight reaches its insert first. This thread first writes the lines it can
   * straight from the records' bytes (`transcoder.ts`: PostgreSQL changes of the types it covers),
   * which costs less CPU than handing them to a worker (packing, a message each way, a view per
   * line). The decode workers, when there are enough records left, decode and encode those (their
   * rows come back as lines); what they leave to the main thread (a record that does not decode,
   * a truncation, a tombstone, a row whose shape this thread has not derived yet) is decoded here,
   * in record order. Rejects only when a decode worker died; a record that does not decode carries
   * its error, which the flush handles as if it had decoded the record itself.
   */
  private decodeAhead(records: readonly KafkaRecord[]): Promise<Decoding[]> {
    // One batch at a time, in order: the first batch (decoded by its flush) is not slowed down by
    // the one taken ahead of it, and the decode workers see the batches in order.
    const decoded = this.decoding.then(() => this.decodeNow(records));
    this.decoding = decoded.then(
      () => undefined,
      () => undefined,
    );
    return decoded;
  }

  private async decodeNow(records: readonly KafkaRecord[]): Promise<Decoding[]> {
    await new Promise((resolve) => setImmediate(resolve));
    // A dead worker fails every batch after it, whether or not it would have decoded a record of it.
    this.pool?.check();
    const out: Decoding[] = new Array(records.length);
    // The lines in one buffer: per line, its index in `out`, its start and its end.
    // Sized for the batch at once, not grown by doubling and copying from 64 KiB: twice the Avro
    // bytes (in loadtests/sink-clickhouse a compact line took 1.2 times its record's); an
    // allocation's pages untouched cost no memory.
    let bytes = 0;
    for (let i = 0; i < records.length; i++) bytes += records[i]!.value?.length ?? 0;
    const lines = new LineWriter(Math.max(1 << 16, bytes * 2));
    const spans: number[] = [];
    const rest: KafkaRecord[] = [];
    let prepared: { topic: string; shapeId: string } | undefined;
    for (let i = 0; i < records.length; i++) {
      // A turn of the event loop now and then: the consumer's fetches go on meanwhile.
      if (i > 0 && i % TRANSCODE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      const record = records[i]!;
      const start = lines.length;
      let t = this.decoder.transcodeKnown(record, lines);
      // A schema not fetched yet (the first records of a topic or version): fetched here, so
      // that this thread transcodes the record and those after it (cheaper than a worker).
      if (t === undefined) {
        const loading = this.decoder.loadSchemas(record);
        if (loading !== undefined && (await loading)) t = this.decoder.transcodeKnown(record, lines);
      }
      if (t === undefined) {
        rest.push(record);
        continue;
      }
      // No flush runs (the first batch, or one after an idle spell): its table is made ready
      // meanwhile, instead of after the whole batch is decoded. Only while every record before
      // this one was transcoded here, so that tables are made ready in record order: a rebuild
      // casts a column to each shape's type in turn, and a shape made ready ahead of an earlier
      // record of an older schema (left to the code below) would be cast back and forth.
      if (
        !this.flushing &&
        rest.length === 0 &&
        (prepared?.topic !== record.topic || prepared.shapeId !== t.shapeId)
      ) {
        prepared = { topic: record.topic, shapeId: t.shapeId };
        this.prepareTable(record.topic, t);
      }
      out[i] = t;
      spans.push(i, start, lines.length);
    }
    const pooled: PooledRecord[] | undefined =
      this.pool !== undefined && rest.length >= POOL_MIN_RECORDS ? await this.pool.decode(rest) : undefined;
    for (let i = 0, r = 0; i < records.length; i++) {
      const record = records[i]!;
      const line = out[i];
      if (line !== undefined) {
        // The topic's last shape, in record order (what a tombstone after it reads).
        this.decoder.shapeSeen(record.topic, (line as { shapeId: string }).shapeId);
        continue;
      }
      const p = pooled?.[r++];
      if (p?.kind === POOLED_SKIP) {
        out[i] = { kind: 'skip' };
        continue;
      }
      if (p?.kind === POOLED_LINE) {
        const shape = this.decoder.knownShape(record.topic, p.shapeId);
        if (shape !== undefined) {
          out[i] = {
            kind: 'encoded',
            shape,
            shapeId: p.shapeId,
            line: p.line,
            columns: p.columns,
            compact: p.compact,
            record,
            commitMs: p.commitMs,
            ...(p.source === undefined ? {} : { source: p.source }),
          };
          continue;
        }
      }
      try {
        out[i] = this.decoder.decodeKnown(record) ?? (await this.decoder.decode(record));
      } catch (error) {
        out[i] = { kind: 'error', error };
      }
    }
    if (spans.length > 0) {
      // Views of the buffer once it is complete (it may have grown while the lines were written).
      const bytes = lines.bytes();
      for (let s = 0; s < spans.length; s += 3)
        (out[spans[s]!] as { line: Buffer }).line = bytes.subarray(spans[s + 1], spans[s + 2]);
    }
    return out;
  }

  /**
   * Claims `table` for `topic` and its source, unless it already is. A table named in
   * clickhouse.sink.tables may take several topics by design (the user's choice); one named by
   * default takes one topic and one source, refusing a second (`TableManager.claim` throws).
   * Undefined (no promise) when there is nothing to claim.
   */
  private claimTable(topic: string, table: string, source: string | undefined): Promise<void> | undefined {
    if (this.deps.options.tables[topic]?.table !== undefined) return undefined;
    const { tables } = this.deps;
    const claim = { topic, source: source ?? `topic ${topic}` };
    // Claimed already (the common case): no promise.
    return tables.isClaimedBy(table, claim) ? undefined : tables.claim(table, claim);
  }

  /**
   * What a flush does first for a line of `topic` (resolve its table, claim it, create or evolve
   * it for the line's shape), done while its batch is still being decoded. The flush waits for it
   * and does the same again, which then costs nothing; a failure here is left to the flush, which
   * handles and reports it as it would have without this step.
   */
  private prepareTable(topic: string, line: Transcoded): void {
    const { tables } = this.deps;
    this.preparing = this.preparing
      .then(async () => {
        await this.resolveTables([topic]);
        if (this.isStopped(topic)) return;
        const table = this.tableFor(topic);
        await this.claimTable(topic, table, line.source);
        if (!tables.isEnsured(table, line.shapeId)) await tables.ensure(table, line.shape, line.shapeId);
      })
      .catch(() => undefined);
  }

  /**
   * Retries retriable failures with backoff until the flush succeeds; false if stopping cut it
   * short (nothing committed). `decoded`: the batch decoded ahead, used by the first attempt
   * (a retry decodes again: a registry that was down may answer now). Each retry inserts with
   * deduplication tokens no attempt before it sent (`insertToken`).
   */
  private async flushWithRetry(records: KafkaRecord[], decoded?: Promise<Decoding[]>): Promise<boolean> {
    const { initialDelayMs, maxDelayMs } = this.deps.options.retry;
    let stopDeadline: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        // The first batch (nothing was in flight to decode it ahead) and a retry (a registry that
        // was down may answer now) are decoded here, by the decode workers too.
        const ahead =
          attempt === 0 && decoded !== undefined ? await decoded : await this.decodeAhead(records);
        this.flushing = true;
        try {
          await this.preparing;
          await this.observer.flush(records, () => this.flush(records, ahead, true, attempt));
        } finally {
          this.flushing = false;
        }
        return true;
      } catch (err) {
        this.observer.error(err);
        if (!isRetriable(err)) {
          this.logger.error('flush failed and cannot be retried: stopping the sink', { err });
          throw err;
        }
        if (this.batches.stopped) {
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
        this.batches.pause();
        const delay = backoffDelay(attempt, initialDelayMs, maxDelayMs, Math.random);
        this.counts.retries += 1;
        this.logger.warn('flush failed, retrying', { attempt: attempt + 1, delayMs: delay, err });
        await this.clock.sleep(delay);
      }
    }
  }

  /**
   * One batch: decode, ensure tables, insert, dead-letter, commit. Idempotent: safe to retry as a
   * whole, with the next `attempt` (its inserts' tokens: `insertToken`; a token a failed attempt
   * sent may be spent without its rows). `decodedAhead`: the records already decoded
   * (`decodeAhead`, one per record, in order). `pipelined` (the flush loop's): returns once the
   * commit is sent, not landed (`committed`).
   */
  async flush(
    records: readonly KafkaRecord[],
    decodedAhead?: readonly Decoding[],
    pipelined = false,
    attempt = 0,
  ): Promise<FlushStats> {
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
      const k = partitionKey(r.topic, r.partition);
      const o = BigInt(r.offset);
      if ((limits.get(k) ?? o + 1n) > o) limits.set(k, o);
    };
    try {
      await this.resolveTables(topicsOf(records));
    } catch (err) {
      throw toRetriable(err, 'resolving the tables of the topics');
    }
    const ensured: { table: string | undefined; shapeId: string | undefined } = {
      table: undefined,
      shapeId: undefined,
    };
    /** The last record's topic, table, source and shape, once it passed every check below. */
    let same: { topic: string; p: Pending; shapeId: string; source: string | undefined } | undefined;
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const ahead = decodedAhead?.[i];
      // The common record: a line of the topic, source and shape of the record before it, which
      // passed every check below (nothing they look at changes until one of them acts).
      if (
        same !== undefined &&
        ahead?.kind === 'encoded' &&
        record.topic === same.topic &&
        ahead.shapeId === same.shapeId &&
        ahead.source === same.source
      ) {
        same.p.records.push(record);
        same.p.items.push(itemOf(ahead, record));
        continue;
      }
      same = undefined;
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
      let decoded: Decoded | RowDecoding | undefined;
      try {
        // Awaits only when something is not known yet (a schema, the table's owner or shape):
        // the common record costs no promise.
        if (ahead?.kind === 'error') throw ahead.error;
        decoded = ahead ?? this.decoder.decodeKnown(record) ?? (await this.decoder.decode(record));
        if (decoded.kind === 'skip') continue;
        const claiming = this.claimTable(record.topic, table, decoded.source);
        if (claiming !== undefined) await claiming;
        if (decoded.kind === 'truncate') {
          p.truncations.push(decoded);
          continue;
        }
        // The batch's rows mostly share one table and shape: checked once in a row.
        if (table !== ensured.table || decoded.shapeId !== ensured.shapeId) {
          if (!tables.isEnsured(table, decoded.shapeId))
            await tables.ensure(table, decoded.shape, decoded.shapeId);
          ensured.table = table;
          ensured.shapeId = decoded.shapeId;
        }
        const renamed = tables.takeRenames(table);
        // Rows of this batch encoded before a column was renamed carry its old name (a line a
        // worker encoded is decoded again here, to rename its row).
        if (renamed)
          for (let k = 0; k < p.items.length; k++) {
            const item = p.items[k]!;
            const row = 'row' in item ? item.row : await this.rowOf(item.record);
            p.items[k] = { row, record: item.record };
            for (const [from, to] of renamed)
              if (Object.hasOwn(row, from)) {
                row[to] = row[from];
                delete row[from];
              }
          }
        const renames = tables.renamesOf(table);
        if (renames.size > 0) {
          const row = decoded.kind === 'row' ? decoded.row : await this.rowOf(record);
          for (const [from, to] of renames)
            if (Object.hasOwn(row, from) && !Object.hasOwn(row, to)) {
              row[to] = row[from];
              delete row[from];
            }
          p.items.push({ row, record });
        } else {
          p.items.push(itemOf(decoded, record));
          if (decoded.kind === 'encoded' && ahead === decoded)
            same = { topic: record.topic, p, shapeId: decoded.shapeId, source: decoded.source };
        }
      } catch (err) {
        // A table may be recreated or stopped below: its shape is checked again.
        ensured.table = undefined;
        if (isRetriable(err)) throw err;
        if (isCdcError(err) && err.context.collision === 'topic') {
          stopTopic(record.topic, table, err);
          limit(record);
          continue;
        }
        if (
          isCdcError(err, 'SCHEMA_INCOMPATIBLE') &&
          options.onIncompatibleSchema === 'recreate' &&
          (decoded?.kind === 'row' || decoded?.kind === 'encoded')
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
            p.items.push(itemOf(decoded, record));
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
    // A batch formed again after a restart sends a token an earlier instance sent, maybe spent
    // without its rows: when the engine dropped a block as a duplicate during this flush, the
    // batches are checked and refilled before the commit (`dedup-check.ts`). Only a flush with a
    // record an earlier consumer of its partition may have attempted (below the partition's log
    // end when this sink was assigned it) can hold such a batch: the others skip the counter.
    let watch = false;
    if (insertOptions.dedup)
      for (const p of pending.values())
        if (this.assignedEnds.suspect(p.records)) {
          watch = true;
          break;
        }
    // Inserts not watched may move the counter: the next watched flush reads it before its own.
    if (!watch && pending.size > 0) this.duplicated = undefined;
    const duplicatedBefore = watch ? (this.duplicated ?? (await duplicatedBlocks(transport))) : undefined;
    const written: WrittenBatch[] = [];
    for (const p of pending.values()) {
      const token = insertToken(p.records, attempt);
      let truncations: RowItem[] = [];
      if (p.truncations.length > 0) {
        await tables.init();
        truncations = p.truncations.map((t) => ({
          row: { table_name: p.table, _version: t.version, _change_id: t.changeId },
          record: p.records[0]!,
        }));
        const rejected = await insertIsolating(
          transport,
          tables.qualified(TRUNCATIONS_TABLE),
          truncations,
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
        const dropped = new Set(rejected.map((r) => r.item));
        written.push({
          table: p.table,
          items: dropped.size === 0 ? p.items : p.items.filter((i) => !dropped.has(i)),
          truncations,
          token,
        });
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
    if (watch) {
      const duplicatedAfter = await duplicatedBlocks(transport);
      this.duplicated = duplicatedAfter;
      // Unknown (the server does not say): every flush is checked.
      if (duplicatedAfter === undefined || duplicatedAfter !== duplicatedBefore) {
        const refill = {
          transport,
          tables,
          insert: insertOptions,
          logger: this.logger,
          instance: this.instance,
        };
        for (const r of await refillDropped(refill, written))
          letters.push({ record: r.item.record, table: r.table, error: r.error });
      }
    }
    // Columns dropped at the source go once the batch is written (a refill too: its rows may hold them).
    for (const w of written)
      try {
        await tables.applyDrops(w.table);
      } catch (err) {
        if (isRetriable(err)) throw err;
        stop(w.table, err as Error);
        for (const r of pending.get(w.table)?.records ?? []) limit(r);
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
    // From the loop, the next batch's insert overlaps this commit's round trip (commits stay in order).
    const committed = this.batches.commit(records, limits);
    if (!pipelined) await committed;
    for (const [t, e] of newlyStopped) this.stoppedTables.set(t, e);
    for (const [t, e] of newlyStoppedTopics) this.stoppedTopics.set(t, e);
    if (newlyStopped.size > 0 || newlyStoppedTopics.size > 0) this.observer.stoppedTables(this.stopped);
    if (newlyStopped.size > 0 || newlyStoppedTopics.size > 0)
      this.batches.pauseTopics(
        [...topicsOf(records)].filter((t) => newlyStopped.has(this.tableFor(t)) || newlyStoppedTopics.has(t)),
      );
    this.counts.records += records.length;
    this.counts.rows += rows;
    this.counts.deadLettered += letters.length;
    this.counts.flushes += 1;
    this.logger.debug('batch flushed', { records: records.length, rows, deadLettered: letters.length });
    return { records: records.length, rows, deadLettered: letters.length, tables: pending.size };
  }

  /** The row of a record a decode worker encoded, decoded again on this thread (to rename its columns). */
  private async rowOf(record: KafkaRecord): Promise<Record<string, unknown>> {
    const d = this.decoder.decodeKnown(record) ?? (await this.decoder.decode(record));
    if (d.kind !== 'row')
      throw new CdcError(
        'INVARIANT_VIOLATED',
        `record ${record.topic}/${record.partition}@${record.offset} decoded to a row in a decode worker and to ${d.kind} on the main thread`,
      );
    return d.row;
  }

  /** SIGTERM: stop fetching, finish and commit the batch in flight and what is buffered, close. */
  async stop(): Promise<void> {
    if (this.batches.stopped) return;
    try {
      await this.batches.stop();
    } catch (err) {
      this.logger.error('flush loop ended with an error', { err });
    }
    await this.preparing;
    await this.pool?.close();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
    this.logger.info('sink stopped', this.totals);
  }

  /** The topics the sink consumes now (sorted). */
  get topics(): readonly string[] {
    return this.batches.topics;
  }

  /** Records held in memory: buffered plus the batch being flushed (bounded by `maxRows` plus one fetch). */
  get bufferedRecords(): number {
    return this.batches.bufferedRecords;
  }

  /** Whether consumption is paused (buffer full, or ClickHouse failing). */
  get consumptionPaused(): boolean {
    return this.batches.paused;
  }

  /** Resolves when every commit of a flushed batch has landed (or failed, logged: the records come again). */
  get committed(): Promise<void> {
    return this.batches.committed;
  }

  /** Resolves when the flush loop ends (stop, or a fatal error). */
  get done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }
}

/** The item `flush` inserts for a row: the row, or the line (its decoding is one: no object more per record). */
function itemOf(decoded: RowDecoding, record: KafkaRecord): RowItem {
  return decoded.kind === 'row' ? { row: decoded.row, record } : decoded;
}

/** The topics of `records`, which mostly come in runs of one topic: no array of them, one per record. */
function topicsOf(records: readonly KafkaRecord[]): Set<string> {
  const topics = new Set<string>();
  let last: string | undefined;
  for (let i = 0; i < records.length; i++) {
    const topic = records[i]!.topic;
    if (topic === last) continue;
    last = topic;
    topics.add(topic);
  }
  return topics;
}

/** The value schema id of a record in the Confluent wire format (magic byte 0, then the id), else 0. */
function valueSchemaId(record: KafkaRecord): number {
  const v = record.value;
  return v && v.length >= 5 && v[0] === 0 ? v.readInt32BE(1) : 0;
}

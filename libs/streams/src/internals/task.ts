import { CdcError, DEAD_LETTER_HEADERS, isRetriable, type Logger } from '@cdc/core';
import type { ErrorHandlers, ErrorResponse } from '../error-handlers.ts';
import {
  type Cancellable,
  isPromiseLike,
  type Processor,
  type ProcessorContext,
  type PunctuationType,
} from '../processor.ts';
import { type RecordMetadata, recordTimestamp, type StreamRecord } from '../record.ts';
import type { Subtopology } from '../topology.ts';
import type { SinkNode, SourceNode } from './graph.ts';
import type { AnyStore } from './stores/typed-stores.ts';

/** A record as read from Kafka (or piped into the test driver). */
export interface RawRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: number;
  readonly headers: Readonly<Record<string, Buffer | string | undefined>>;
}

export interface OutgoingRecord {
  readonly topic: string;
  /** Unset: the producer's partitioner picks by key (the same murmur2 as Kafka's Java client). */
  readonly partition?: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: number;
  readonly headers?: Readonly<Record<string, Buffer | string>>;
}

/** Where a task's output goes: the test driver's lists, or the open Kafka transaction. */
export interface RecordCollector {
  send(record: OutgoingRecord): void;
}

/** Counters a user would want to alert on; one object per application, shared by its tasks. */
export interface StreamsMetrics {
  processed: number;
  /** Records skipped by a `continue` error policy (or with a null key where one is required). */
  skipped: number;
  deadLettered: number;
  /** Input records that arrived after the grace period of a window they belong to. */
  lateRecords: number;
  /** Late records written to a late-records topic. */
  lateRecordsSent: number;
  /** Changelog records applied to local stores when their tasks opened (restores). */
  restored: number;
  /**
   * Per store, over the task openings of this runtime: the changelog offsets its restores had
   * to read (end minus checkpoint) and those they have read (a finished restore counts whole).
   */
  restoring: Record<string, { restored: number; estimated: number }>;
}

export function newMetrics(): StreamsMetrics {
  return {
    processed: 0,
    skipped: 0,
    deadLettered: 0,
    lateRecords: 0,
    lateRecordsSent: 0,
    restored: 0,
    restoring: {},
  };
}

export interface TaskOptions {
  id: string;
  partition: number;
  subtopology: Subtopology;
  stores: ReadonlyMap<string, AnyStore>;
  globalStores: ReadonlyMap<string, AnyStore>;
  collector: RecordCollector;
  /** The real name of a topic (internal ones get the application id as prefix). */
  topicName: (topic: string, internal: boolean) => string;
  wallClock: () => number;
  handlers: ErrorHandlers;
  logger: Logger;
  metrics: StreamsMetrics;
}

interface Schedule {
  intervalMs: number;
  type: PunctuationType;
  next: number | undefined;
  callback: (timestamp: number) => void | Promise<void>;
  ctx: NodeContext;
  cancelled: boolean;
}

type AnyProcessor = Processor<unknown, unknown, unknown, unknown>;

interface NodeContext extends ProcessorContext<unknown, unknown> {
  readonly node: string;
}

/** Errors that must stop the task, past every error policy. */
const fatal = new WeakSet<object>();

function firstDue(time: number, interval: number): number {
  return Math.floor(time / interval) * interval + interval;
}

/**
 * One subtopology on one partition: it owns its processors, stores and stream time, and turns
 * each input record into outputs for its collector. It knows nothing of Kafka.
 */
export class StreamTask {
  readonly id: string;
  readonly partition: number;
  private readonly options: TaskOptions;
  private readonly processors = new Map<string, AnyProcessor>();
  private readonly contexts = new Map<string, NodeContext>();
  private readonly sourceByTopic = new Map<string, SourceNode>();
  private readonly schedules: Schedule[] = [];
  private currentStreamTime = Number.NEGATIVE_INFINITY;
  private current: RawRecord | undefined;
  private lateHandled: RawRecord | undefined;
  private failedNode: string | undefined;

  constructor(options: TaskOptions) {
    this.options = options;
    this.id = options.id;
    this.partition = options.partition;
    const st = options.subtopology;
    for (const node of st.nodes) {
      const ctx = this.makeContext(node.name, st.children.get(node.name) ?? []);
      this.contexts.set(node.name, ctx);
      if (node.kind === 'source') {
        for (const t of node.topics) this.sourceByTopic.set(options.topicName(t, node.internal), node);
        this.processors.set(node.name, { process: (r) => ctx.forward(r) });
      } else if (node.kind === 'sink') {
        this.processors.set(node.name, { process: (r) => this.sink(node, r) });
      } else {
        this.processors.set(node.name, node.supplier());
      }
    }
  }

  get streamTime(): number {
    return this.currentStreamTime;
  }

  /** The real names of the topics this task reads. */
  get inputTopics(): string[] {
    return [...this.sourceByTopic.keys()];
  }

  async init(): Promise<void> {
    for (const [name, p] of this.processors) await p.init?.(this.contexts.get(name) as NodeContext);
  }

  async close(): Promise<void> {
    for (const p of this.processors.values()) await p.close?.();
  }

  /**
   * Runs one input record through the subtopology. Throws only when a policy says `fail`.
   * Returns undefined when the record went through synchronously (no serde had to fetch a schema,
   * no processor returned a promise): the runtime then makes no promise per record.
   */
  process(raw: RawRecord): void | Promise<void> {
    const source = this.sourceByTopic.get(raw.topic);
    if (!source) {
      throw new CdcError(
        'INVARIANT_VIOLATED',
        `task ${this.id} received a record from ${raw.topic}, which it does not read`,
        {
          context: { task: this.id, topic: raw.topic },
        },
      );
    }
    const keyReady = source.keySerde.prepare?.(raw.topic, raw.key);
    const valueReady = source.valueSerde.prepare?.(raw.topic, raw.value);
    if (keyReady === undefined && valueReady === undefined) return this.processReady(source, raw);
    return Promise.all([keyReady, valueReady]).then(
      () => this.processReady(source, raw),
      (err: unknown) => {
        // The registry is down: the record is fine, skipping it would lose it. Stop the task.
        if (isRetriable(err)) throw err;
        this.current = raw;
        try {
          this.failed('deserialization', this.options.handlers.deserialization, err, source.name);
        } finally {
          this.current = undefined;
        }
      },
    );
  }

  /** `process` once the serdes can read the record. */
  private processReady(source: SourceNode, raw: RawRecord): void | Promise<void> {
    this.current = raw;
    let key: unknown;
    let value: unknown;
    let timestamp: number;
    try {
      key = source.keySerde.deserialize(raw.topic, raw.key);
      value = source.valueSerde.deserialize(raw.topic, raw.value);
      // The record's own timestamp (the default) needs no record built for the extractor.
      if (source.timestampExtractor === recordTimestamp) timestamp = raw.timestamp;
      else {
        const headers = Object.fromEntries(
          Object.entries(raw.headers).filter((e): e is [string, Buffer | string] => e[1] !== undefined),
        );
        timestamp = source.timestampExtractor({ ...raw, key, value, headers });
      }
      if (!Number.isFinite(timestamp)) throw new Error(`the timestamp extractor returned ${timestamp}`);
    } catch (err) {
      try {
        this.failed('deserialization', this.options.handlers.deserialization, err, source.name);
      } finally {
        this.current = undefined;
      }
      return;
    }
    if (timestamp > this.currentStreamTime) this.currentStreamTime = timestamp;
    this.failedNode = undefined;
    let delivered: void | Promise<void>;
    try {
      delivered = this.deliver(source.name, {
        key,
        value,
        timestamp,
        headers: raw.headers as Record<string, Buffer | string>,
      });
    } catch (err) {
      try {
        this.processingFailed(err, source);
      } finally {
        this.current = undefined;
      }
      return;
    }
    if (delivered === undefined) return this.finishRecord(this.processed());
    return this.finishRecord(
      delivered.then(
        () => this.processed(),
        (err: unknown) => this.processingFailed(err, source),
      ),
    );
  }

  /** Applies the processing error policy to the current record (rethrows a fatal error). */
  private processingFailed(err: unknown, source: SourceNode): void {
    if (fatal.has(err as object)) throw err;
    this.failed('processing', this.options.handlers.processing, err, this.failedNode ?? source.name);
  }

  /** After a record went through: counts it and fires due stream-time punctuations. */
  private processed(): void | Promise<void> {
    this.options.metrics.processed += 1;
    return this.punctuate('stream-time', this.currentStreamTime);
  }

  /** Forgets the current record once `step` ends, however it ends. */
  private finishRecord(step: void | Promise<void>): void | Promise<void> {
    if (step === undefined) {
      this.current = undefined;
      return;
    }
    return step.finally(() => {
      this.current = undefined;
    });
  }

  /**
   * Has every processor that holds records back forward them (before a commit), in the order
   * of the graph. A failure here stops the task: no error policy can skip a combined record.
   */
  async flush(): Promise<void> {
    for (const p of this.processors.values()) if (p.flush !== undefined) await p.flush();
  }

  /** Fires the wall-clock punctuations that are due at `now`. */
  async punctuateWallClock(now = this.options.wallClock()): Promise<void> {
    await this.punctuate('wall-clock', now);
  }

  private punctuate(type: PunctuationType, time: number, from = 0): void | Promise<void> {
    for (let i = from; i < this.schedules.length; i++) {
      const s = this.schedules[i] as Schedule;
      if (s.cancelled || s.type !== type) continue;
      if (s.next === undefined) s.next = firstDue(time, s.intervalMs);
      if (time < s.next) continue;
      s.next = firstDue(time, s.intervalMs);
      const fired = s.callback(time);
      if (isPromiseLike(fired)) return fired.then(() => this.punctuate(type, time, i + 1));
    }
  }

  /** Runs `record` through `node`; undefined when it finished synchronously. */
  private deliver(node: string, record: StreamRecord<unknown, unknown>): void | Promise<void> {
    const p = this.processors.get(node) as AnyProcessor;
    let out: void | Promise<void>;
    try {
      out = p.process(record);
    } catch (err) {
      this.failedNode ??= node;
      throw err;
    }
    if (!isPromiseLike(out)) return;
    return out.then(undefined, (err: unknown) => {
      this.failedNode ??= node;
      throw err;
    });
  }

  /** Delivers `record` to `children[from…]` in order, waiting for any that returns a promise. */
  private deliverAll(
    children: readonly string[],
    record: StreamRecord<unknown, unknown>,
    from: number,
  ): void | Promise<void> {
    for (let i = from; i < children.length; i++) {
      const out = this.deliver(children[i] as string, record);
      if (out !== undefined)
        return i + 1 < children.length ? out.then(() => this.deliverAll(children, record, i + 1)) : out;
    }
  }

  private sink(node: SinkNode, record: StreamRecord<unknown, unknown>): void {
    const topic = this.options.topicName(node.topic, node.internal);
    let key: Buffer | null;
    let value: Buffer | null;
    try {
      key = node.keySerde.serialize(topic, record.key);
      value = node.valueSerde.serialize(topic, record.value);
    } catch (err) {
      this.failed('production', this.options.handlers.production, err, node.name);
      return;
    }
    // A copy: the record's headers object may be shared with what the processors still hold.
    const headers: Record<string, Buffer | string> = {};
    const from = record.headers;
    if (from) for (const k in from) if (from[k] !== undefined) headers[k] = from[k] as Buffer | string;
    this.options.collector.send({ topic, key, value, timestamp: record.timestamp, headers });
  }

  /** Applies an error policy to the current record; throws for `fail`. */
  private failed(
    stage: string,
    handler: ErrorHandlers['deserialization'],
    error: unknown,
    node: string,
  ): ErrorResponse {
    const raw = this.current;
    if (raw === undefined) {
      // A record forwarded by a flush (before a commit) has no input record to skip or park.
      const failure = new CdcError(
        'POISON_RECORD',
        `${stage} failed at ${node} while flushing task ${this.id} before a commit: ${(error as Error)?.message ?? String(error)}; fix the processor that held the record back`,
        { context: { task: this.id, node, stage }, cause: error },
      );
      fatal.add(failure);
      throw failure;
    }
    const meta = { topic: raw.topic, partition: raw.partition, offset: raw.offset };
    const response = handler({ ...meta, key: raw.key, value: raw.value, error, node });
    const message = (error as Error)?.message ?? String(error);
    const log = { task: this.id, stage, node, ...meta, err: error };
    if (response.action === 'fail') {
      this.options.logger.error(`${stage} failed; stopping (policy: fail)`, log);
      const code = stage === 'processing' ? 'POISON_RECORD' : 'SERDE_FAILED';
      const failure = new CdcError(
        code,
        `${stage} of ${raw.topic}[${raw.partition}]@${raw.offset} failed at ${node}: ${message}; fix the record or the code, or choose the continue or dead-letter policy`,
        { context: { ...meta, node, stage }, cause: error },
      );
      fatal.add(failure);
      throw failure;
    }
    if (response.action === 'continue') {
      this.options.logger.warn(`${stage} failed; record skipped (policy: continue)`, log);
      this.options.metrics.skipped += 1;
      return response;
    }
    this.options.logger.warn(`${stage} failed; record sent to ${response.topic} (policy: dead-letter)`, log);
    this.options.collector.send({
      topic: response.topic,
      key: raw.key,
      value: raw.value,
      timestamp: raw.timestamp,
      headers: {
        ...this.rawHeaders(raw),
        [DEAD_LETTER_HEADERS.stage]: stage,
        [DEAD_LETTER_HEADERS.node]: node,
        [DEAD_LETTER_HEADERS.message]: message,
        [DEAD_LETTER_HEADERS.code]: (error as { code?: string })?.code ?? 'UNKNOWN',
        [DEAD_LETTER_HEADERS.sourceTopic]: raw.topic,
        [DEAD_LETTER_HEADERS.sourcePartition]: String(raw.partition),
        [DEAD_LETTER_HEADERS.sourceOffset]: raw.offset,
      },
    });
    this.options.metrics.deadLettered += 1;
    return response;
  }

  private rawHeaders(raw: RawRecord): Record<string, Buffer | string> {
    const out: Record<string, Buffer | string> = {};
    for (const [k, v] of Object.entries(raw.headers)) if (v !== undefined) out[k] = v;
    return out;
  }

  private reportLate(window: { start: number; end: number }, lateRecordsTopic?: string): void {
    const raw = this.current;
    if (!raw || this.lateHandled === raw) return;
    this.lateHandled = raw;
    this.options.metrics.lateRecords += 1;
    const meta = {
      task: this.id,
      topic: raw.topic,
      partition: raw.partition,
      offset: raw.offset,
      windowStart: window.start,
      windowEnd: window.end,
    };
    if (lateRecordsTopic === undefined) {
      this.options.logger.warn(
        'late record counted and skipped: its window is closed (past its grace, or its retention with afterGrace amend); no late-records topic',
        meta,
      );
      return;
    }
    this.options.collector.send({
      topic: lateRecordsTopic,
      key: raw.key,
      value: raw.value,
      timestamp: raw.timestamp,
      headers: {
        ...this.rawHeaders(raw),
        'cdc.late.window.start': String(window.start),
        'cdc.late.window.end': String(window.end),
        'cdc.late.stream-time': String(this.currentStreamTime),
        'cdc.source.topic': raw.topic,
        'cdc.source.partition': String(raw.partition),
        'cdc.source.offset': raw.offset,
      },
    });
    this.options.metrics.lateRecordsSent += 1;
  }

  private makeContext(node: string, children: readonly string[]): NodeContext {
    const task = this;
    const ctx: NodeContext = {
      node,
      taskId: this.id,
      partition: this.partition,
      logger: this.options.logger.child({ task: this.id, node }),
      forward(record, child) {
        if (child !== undefined) {
          if (!children.includes(child)) {
            throw new CdcError('INVARIANT_VIOLATED', `${node} has no child named ${child}`, {
              context: { node, child },
            });
          }
          return task.deliver(child, record);
        }
        return task.deliverAll(children, record, 0);
      },
      getStateStore<S>(name: string): S {
        const store = task.options.stores.get(name) ?? task.options.globalStores.get(name);
        if (!store) {
          throw new CdcError(
            'INVARIANT_VIOLATED',
            `${node} asked for store ${name}, which task ${task.id} does not have; declare it on the processor`,
            {
              context: { node, store: name },
            },
          );
        }
        return store as S;
      },
      schedule(intervalMs: number, type: PunctuationType, callback): Cancellable {
        if (!(intervalMs >= 1))
          throw new CdcError('CONFIG_INVALID', `punctuation interval must be ≥ 1 ms, got ${intervalMs}`);
        const s: Schedule = {
          intervalMs,
          type,
          next:
            type === 'wall-clock'
              ? firstDue(task.options.wallClock(), intervalMs)
              : Number.isFinite(task.currentStreamTime)
                ? firstDue(task.currentStreamTime, intervalMs)
                : undefined,
          callback,
          ctx,
          cancelled: false,
        };
        task.schedules.push(s);
        return {
          cancel: () => {
            s.cancelled = true;
          },
        };
      },
      streamTime: () => task.currentStreamTime,
      wallClockTime: () => task.options.wallClock(),
      recordMetadata(): RecordMetadata | undefined {
        const r = task.current;
        return r ? { topic: r.topic, partition: r.partition, offset: r.offset } : undefined;
      },
      reportLate: (details) => task.reportLate(details.window, details.lateRecordsTopic),
    };
    return ctx;
  }
}

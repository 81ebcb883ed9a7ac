/**
 * Decoding and encoding off the main thread: a pool of worker threads (`decode-worker.ts`), each
 * with its own `RecordDecoder`, turns records into JSONEachRow lines. A batch is cut into one
 * contiguous chunk per worker and the answers are put back in record order, so the sink sees the
 * same sequence as if it had decoded the batch itself.
 *
 * A worker handles only the common case: a record whose row it can encode. Anything else — a
 * record that does not decode (the main thread decodes it again and gets the very error it would
 * have got), a truncation, a tombstone (whose meaning depends on the records before it) — comes
 * back as `main`: the sink decodes that record on its own thread exactly as before.
 *
 * Workers ask the main thread for schemas (`RegistryClient.schemaById`, `version`): one registry
 * client and one cache of answers, no registry credentials handed to threads.
 *
 * Failure contract: a worker that dies (an uncaught error, out of memory, `process.exit`) fails
 * every decode in flight and every later one with a non-retriable `INVARIANT_VIOLATED`, and so do
 * `check` and `died` (for a sink that has nothing to ask the workers: see `sink.ts`); the sink's
 * flush loop ends with it and the service's supervisor sees it. Nothing waits for a dead worker.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RegistryClient } from '@cdc/avro';
import { CdcError, type Logger } from '@cdc/core';
import type { KafkaRecord } from './decode.ts';

/** What a worker makes of one record (see `PooledRecord`). */
export const POOLED_LINE = 0;
export const POOLED_SKIP = 1;
export const POOLED_MAIN = 2;
/** A JSONCompactEachRow line (the transcoder's); `POOLED_LINE` is a JSONEachRow one. */
export const POOLED_COMPACT = 3;

/**
 * Values numbered in the order first seen (a chunk's topics, shapes, sources, column lists): a
 * message carries each once, in `values`, and an index per record.
 */
export class Interner<T> {
  readonly values: T[] = [];
  private readonly index = new Map<T, number>();

  /** The value's number, given it now if it has none. */
  of(value: T): number {
    let i = this.index.get(value);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.index.set(value, i);
    }
    return i;
  }
}

/** A chunk of records as sent to a worker: keys and values packed into one transferred buffer. */
export interface ChunkRequest {
  type: 'decode';
  id: number;
  topics: string[];
  topicOf: Uint16Array;
  partitions: Int32Array;
  offsets: string[];
  timestamps: string[];
  /** Per record: key start, key length, value start, value length (length -1: null). */
  spans: Int32Array;
  data: ArrayBuffer;
}

/** A worker's answer for a chunk, one entry per record in order. */
export interface ChunkResult {
  type: 'decoded';
  id: number;
  /** `POOLED_LINE`, `POOLED_COMPACT`, `POOLED_SKIP` or `POOLED_MAIN` per record. */
  kinds: Uint8Array;
  /** The lines of the `POOLED_LINE` and `POOLED_COMPACT` records, in order. */
  lines: ArrayBuffer;
  /** Per record: the end of its line in `lines` (its start is the previous line's end). */
  ends: Uint32Array;
  /** Per record: index into `shapeIds` (line records only). */
  shapeOf: Uint16Array;
  shapeIds: string[];
  /** Per shape: the union of the columns its JSONEachRow lines in this chunk have. */
  columns: string[][];
  /** Per `POOLED_COMPACT` record: index into `compactColumns`, the columns its line holds. */
  compactOf: Uint16Array;
  compactColumns: string[][];
  /** Per record: index into `sources`, -1 for none. */
  sourceOf: Int16Array;
  sources: string[];
  /** Per record: the source commit time in ms (metrics), NaN for none. */
  commitMs: Float64Array;
}

export type WorkerMessage =
  | ChunkResult
  | { type: 'ready' }
  | { type: 'registry'; id: number; op: 'schemaById'; schemaId: number }
  | { type: 'registry'; id: number; op: 'version'; subject: string; version: number | 'latest' }
  | { type: 'failed'; id: number; message: string };

export type MainMessage =
  | ChunkRequest
  | { type: 'registry'; id: number; ok: true; value: unknown }
  | { type: 'registry'; id: number; ok: false; message: string };

/** One record as the pool answers it. */
export type PooledRecord =
  | {
      kind: typeof POOLED_LINE;
      line: Buffer;
      shapeId: string;
      columns: readonly string[];
      /** JSONCompactEachRow (the values of `columns`), else JSONEachRow. */
      compact: boolean;
      source: string | undefined;
      commitMs: number | undefined;
    }
  | { kind: typeof POOLED_SKIP }
  | { kind: typeof POOLED_MAIN };

export interface DecodePoolOptions {
  registry: RegistryClient;
  /** `clickhouse.sink.tables.<topic>.keyColumns` per topic, as the main thread's decoder has them. */
  keyColumns: Record<string, readonly string[]>;
  /** Worker threads (default: the cores available, at most 4). */
  threads?: number;
  logger: Logger;
}

/** The worker's module, next to this one (TypeScript when run from source, JavaScript once built). */
function workerUrl(): URL {
  return new URL(
    import.meta.url.endsWith('.ts') ? './decode-worker.ts' : './decode-worker.js',
    import.meta.url,
  );
}

interface Pending {
  resolve: (r: ChunkResult) => void;
  reject: (e: unknown) => void;
}

export class DecodePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending & { worker: Worker }>();
  private nextId = 1;
  private failure: CdcError | undefined;
  private closing = false;
  private readonly options: DecodePoolOptions;
  private readonly started: Promise<void>[] = [];
  private readonly startedResolvers = new Map<Worker, () => void>();

  constructor(options: DecodePoolOptions) {
    this.options = options;
    const threads = Math.max(1, options.threads ?? Math.min(4, availableParallelism()));
    for (let i = 0; i < threads; i++) this.workers.push(this.spawn(i));
  }

  /** How many worker threads decode. */
  get threads(): number {
    return this.workers.length;
  }

  private spawn(index: number): Worker {
    const worker = new Worker(workerUrl(), {
      workerData: { keyColumns: this.options.keyColumns },
      name: `sink-decode-${index}`,
    });
    // The sink's Kafka connections keep the process alive while it runs; a worker must not keep a
    // process that is otherwise done.
    worker.unref();
    const ready = Promise.withResolvers<void>();
    this.started.push(ready.promise);
    this.startedResolvers.set(worker, ready.resolve);
    // Rejected by `fail` if the worker dies first; awaited by `ready` only.
    this.failed.promise.catch(() => undefined);
    const name = `sink-decode-${index} (thread ${worker.threadId})`;
    worker.on('message', (m: WorkerMessage) => this.onMessage(worker, name, m));
    worker.on('error', (err) => this.fail(name, `threw ${err?.message ?? String(err)}`, err));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(name, `exited with code ${code}`);
    });
    return worker;
  }

  /** Rejects with the pool's failure once a worker dies (before `ready`: it never started). */
  private readonly failed = Promise.withResolvers<never>();

  /**
   * Resolves once every worker loaded its modules and waits for work (a few hundred ms of CPU
   * each, paid at start rather than by the first batches); rejects if one died first.
   */
  ready(): Promise<void> {
    return Promise.race([Promise.all(this.started).then(() => undefined), this.failed.promise]);
  }

  /** Throws the pool's failure once a worker died, as `decode` would. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Rejects with the pool's failure once a worker dies; never resolves. */
  get died(): Promise<never> {
    return this.failed.promise;
  }

  private fail(name: string, what: string, cause?: unknown): void {
    if (this.failure === undefined) {
      this.failure = new CdcError(
        'INVARIANT_VIOLATED',
        `the sink's decode worker thread ${name} ${what}: the sink stops; its supervisor restarts it from the offsets committed (nothing after them was acknowledged)`,
        { cause },
      );
      this.failed.reject(this.failure);
      this.options.logger.error('decode worker thread failed', {
        worker: name,
        err: this.failure,
      });
    }
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(this.failure);
    }
    if (!this.closing) void this.close();
  }

  private onMessage(worker: Worker, name: string, m: WorkerMessage): void {
    if (m.type === 'ready') {
      this.startedResolvers.get(worker)?.();
      return;
    }
    if (m.type === 'decoded') {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.resolve(m);
      return;
    }
    if (m.type === 'failed') {
      this.fail(name, `failed: ${m.message}`);
      return;
    }
    const { registry } = this.options;
    const answer =
      m.op === 'schemaById' ? registry.schemaById(m.schemaId) : registry.version(m.subject, m.version);
    answer.then(
      (value) => this.post(worker, { type: 'registry', id: m.id, ok: true, value }),
      (err) =>
        this.post(worker, { type: 'registry', id: m.id, ok: false, message: String(err?.message ?? err) }),
    );
  }

  private post(worker: Worker, message: MainMessage, transfer?: ArrayBuffer[]): void {
    if (this.failure !== undefined || this.closing) return;
    worker.postMessage(message, transfer);
  }

  /**
   * What the workers make of `records`, one entry per record in order. Rejects (non-retriable)
   * if a worker died.
   */
  async decode(records: readonly KafkaRecord[]): Promise<PooledRecord[]> {
    if (this.failure) throw this.failure;
    if (this.closing) throw new CdcError('SHUTTING_DOWN', 'the sink is stopping: its decode pool is closed');
    const n = this.workers.length;
    const size = Math.ceil(records.length / n);
    const chunks: Promise<ChunkResult>[] = [];
    for (let w = 0; w < n && w * size < records.length; w++)
      chunks.push(
        this.request(this.workers[w]!, records, w * size, Math.min(records.length, (w + 1) * size)),
      );
    const results = await Promise.all(chunks);
    const out: PooledRecord[] = new Array(records.length);
    let i = 0;
    for (const r of results) {
      const lines = Buffer.from(r.lines);
      let start = 0;
      for (let k = 0; k < r.kinds.length; k++, i++) {
        const kind = r.kinds[k]!;
        if (kind === POOLED_LINE || kind === POOLED_COMPACT) {
          const end = r.ends[k]!;
          const shape = r.shapeOf[k]!;
          const source = r.sourceOf[k]!;
          const ms = r.commitMs[k]!;
          const compact = kind === POOLED_COMPACT;
          out[i] = {
            kind: POOLED_LINE,
            line: lines.subarray(start, end),
            shapeId: r.shapeIds[shape]!,
            columns: compact ? r.compactColumns[r.compactOf[k]!]! : r.columns[shape]!,
            compact,
            source: source < 0 ? undefined : r.sources[source],
            commitMs: Number.isNaN(ms) ? undefined : ms,
          };
          start = end;
        } else out[i] = kind === POOLED_SKIP ? { kind } : { kind: POOLED_MAIN };
      }
    }
    return out;
  }

  private request(
    worker: Worker,
    records: readonly KafkaRecord[],
    from: number,
    to: number,
  ): Promise<ChunkResult> {
    const count = to - from;
    const topics = new Interner<string>();
    const topicOf = new Uint16Array(count);
    const partitions = new Int32Array(count);
    const offsets: string[] = new Array(count);
    const timestamps: string[] = new Array(count);
    const spans = new Int32Array(count * 4);
    let bytes = 0;
    for (let i = from; i < to; i++)
      bytes += (records[i]!.key?.length ?? 0) + (records[i]!.value?.length ?? 0);
    const data = new Uint8Array(new ArrayBuffer(bytes));
    let at = 0;
    for (let k = 0; k < count; k++) {
      const r = records[from + k]!;
      topicOf[k] = topics.of(r.topic);
      partitions[k] = r.partition;
      offsets[k] = r.offset;
      timestamps[k] = r.timestamp;
      at = pack(r.key, data, spans, k * 4, at);
      at = pack(r.value, data, spans, k * 4 + 2, at);
    }
    const id = this.nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<ChunkResult>();
    this.pending.set(id, { resolve, reject, worker });
    const message: ChunkRequest = {
      type: 'decode',
      id,
      topics: topics.values,
      topicOf,
      partitions,
      offsets,
      timestamps,
      spans,
      data: data.buffer,
    };
    worker.postMessage(message, [data.buffer]);
    return promise;
  }

  /** Stops the workers; decodes in flight reject. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const stopped = new CdcError('SHUTTING_DOWN', 'the sink is stopping: its decode pool is closed');
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(this.failure ?? stopped);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Copies `buf` into `data` at `at` and notes where (`spans[slot]` start, `spans[slot + 1]` length, -1: null); the next `at`. */
function pack(buf: Buffer | null, data: Uint8Array, spans: Int32Array, slot: number, at: number): number {
  if (buf === null) {
    spans[slot] = 0;
    spans[slot + 1] = -1;
    return at;
  }
  data.set(buf, at);
  spans[slot] = at;
  spans[slot + 1] = buf.length;
  return at + buf.length;
}

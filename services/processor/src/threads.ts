/**
 * The extra stream threads of `processing.threads` > 1, seen from the main thread: starts each
 * in a worker (`stream-thread.ts`), hands its reports to `onReport`, turns its failure into the
 * error of the main thread's attempt (retriable when the thread's was), and stops them all
 * cleanly. Every thread is a member of the consumer group with tasks of its own, so the
 * partitions' work spreads over the cores; they start and stop together with the main thread's,
 * as one unit of the service.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CdcError, type Logger, type LogLevel } from '@cdc/core';
import type { Pipeline } from '@cdc/pipeline';
import type { StreamsMetrics } from '@cdc/streams';

export interface ThreadData {
  pipeline: Pipeline;
  /** 1, 2, …: the main thread is 0. */
  index: number;
  level: LogLevel;
  stateDir: string;
}

/** What a thread observed since its last report. */
export interface ThreadReport {
  type: 'report';
  state: string;
  tasks: string[];
  /** Records read per input topic. */
  read: [string, number][];
  /** Each committed transaction's records per output topic, and their total. */
  committed: { perTopic: [string, number][]; total: number }[];
  aborted: number;
  /** The thread's runtime counters (cumulative). */
  metrics?: StreamsMetrics;
}

export type ThreadToMain =
  | ThreadReport
  /** Loaded (schemas, global tables) and waiting for `join` before it joins the consumer group. */
  | { type: 'ready' }
  | { type: 'failed'; code: string; message: string; retriable: boolean }
  | { type: 'closed' };

/** The state directory of thread `index` (the main thread keeps `stateDir` itself). */
export function threadStateDir(stateDir: string, index: number): string {
  return index === 0 ? stateDir : join(stateDir, `thread-${index}`);
}

/** From the main thread to a stream thread. */
export type MainToThread = { type: 'stop' } | { type: 'join' };

interface Thread {
  worker: Worker;
  ready: Promise<void>;
  state: string;
  tasks: string[];
  exited: Promise<void>;
}

export class StreamThreads {
  private readonly threads: Thread[] = [];
  private readonly logger: Logger;
  private fail: (err: Error) => void = () => {};
  private stopping = false;
  /** Rejects with the first thread's failure (never resolves). */
  readonly failure: Promise<never>;

  /** Starts threads 1 … `count` (the main thread, 0, is the caller's). */
  constructor(options: {
    pipeline: Pipeline;
    count: number;
    level: LogLevel;
    logger: Logger;
    onReport: (index: number, report: ThreadReport) => void;
  }) {
    this.logger = options.logger;
    this.failure = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    this.failure.catch(() => undefined); // observed by the caller when it races it
    const stateDir = options.pipeline.processing?.stateDir ?? '';
    // dist runs the compiled entry; tests that import the sources run the .ts one.
    const entry = new URL(
      import.meta.url.endsWith('.ts') ? './stream-thread.ts' : './stream-thread.js',
      import.meta.url,
    );
    for (let index = 1; index <= options.count; index++) {
      const data: ThreadData = {
        pipeline: options.pipeline,
        index,
        level: options.level,
        stateDir: threadStateDir(stateDir, index),
      };
      const worker = new Worker(entry, { workerData: data });
      let ready: () => void = () => {};
      const thread: Thread = {
        worker,
        ready: new Promise<void>((resolve) => {
          ready = resolve;
        }),
        state: 'starting',
        tasks: [],
        exited: new Promise((resolve) => worker.once('exit', () => resolve())),
      };
      worker.on('message', (m: ThreadToMain) => {
        if (m.type === 'ready') ready();
        else if (m.type === 'report') {
          thread.state = m.state;
          thread.tasks = m.tasks;
          options.onReport(index, m);
        } else if (m.type === 'failed') {
          thread.state = 'failed';
          this.fail(
            new CdcError(m.code as never, `stream thread ${index}: ${m.message}`, { retriable: m.retriable }),
          );
        }
      });
      worker.on('error', (err) => {
        thread.state = 'failed';
        this.fail(
          new CdcError('INVARIANT_VIOLATED', `stream thread ${index} crashed: ${err.message}`, {
            cause: err,
          }),
        );
      });
      worker.on('exit', (code) => {
        if (!this.stopping)
          this.fail(
            new CdcError('INVARIANT_VIOLATED', `stream thread ${index} exited (code ${code}) while running`, {
              retriable: true,
            }),
          );
      });
      this.threads.push(thread);
    }
  }

  /**
   * Waits until every thread is loaded and about to join the consumer group, then lets them all
   * join: the main thread calls it just before its own join (`beforeJoin`), so that the group's
   * members arrive together rather than one rebalance apart each (every rebalance moves tasks,
   * and a task that moves to another thread restores its stores from the changelog there).
   */
  async joinTogether(): Promise<void> {
    await Promise.race([Promise.all(this.threads.map((t) => t.ready)), this.failure]);
    for (const t of this.threads) t.worker.postMessage({ type: 'join' } satisfies MainToThread);
  }

  /** Whether every thread runs (its state stores restored). */
  get running(): boolean {
    return this.threads.every((t) => t.state === 'running');
  }

  /** The tasks the threads hold. */
  get tasks(): string[] {
    return this.threads.flatMap((t) => t.tasks);
  }

  /** Stops every thread (each commits or aborts what is open and checkpoints); waits up to 60 s. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const t of this.threads) t.worker.postMessage({ type: 'stop' } satisfies MainToThread);
    const all = Promise.all(this.threads.map((t) => t.exited));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), 60_000);
    });
    if ((await Promise.race([all, late])) === 'late') {
      this.logger.warn('stream threads did not stop within 60 s: terminating them');
      await Promise.all(this.threads.map((t) => t.worker.terminate()));
    }
    clearTimeout(timer);
  }
}

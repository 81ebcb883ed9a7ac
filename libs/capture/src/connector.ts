/**
 * The connector contract: what a source (PostgreSQL, MongoDB) gives the capture runtime, after
 * Debezium's `PostgresChangeEventSourceFactory` — one factory (`open`) for a session whose
 * phases are separate methods: the facts the plan is made from, then the plan's steps (discard
 * the history, start a position, snapshot, incremental snapshots, stream). The coordinator
 * (`coordinator.ts`) decides the steps (`planSession`) and walks them; everything that is the
 * same for every source (the writer, the offsets store, paused tables, the signal channel, the
 * observer's running state, the restart loop) lives there, once.
 *
 * Failure contract: any method may reject; the coordinator then closes what the session
 * registered (`onClose`, reverse order) and the restart loop asks `retriable` whether a new
 * session may fix it. Nothing is acknowledged to the source beyond what Kafka committed, so a
 * new session is always safe.
 */
import type { Clock, Logger } from '@cdc/core';
import type { Admin, Kafka } from '@cdc/kafka';
import type { ChangeWriter } from './change-writer.ts';
import type { CaptureObserver } from './observer.ts';
import type { OffsetsStore } from './offsets-store.ts';
import type { DiscardReason, FailReason, SessionFacts } from './session-plan.ts';
import type { Signal, SignalType } from './signals.ts';
import type { TablePauses } from './table-pauses.ts';

/** What every capture is made with, whatever its source. */
export interface CaptureOptions<Source> {
  source: Source;
  kafka: Kafka;
  admin: Admin;
  logger: Logger;
  clock: Clock;
  /** Metrics, readiness and traces (default: none). */
  observer?: CaptureObserver;
  /** Where the source is in the pipeline file (`sources.postgres[0]`), for errors that need a fix there. */
  configPath?: string;
  /** The Kafka topic of the control service's commands (pause, resume, resync); absent: none read. */
  signalTopic?: string;
}

/** What the coordinator gives a session. */
export interface SessionContext {
  readonly signal: AbortSignal;
  /** Connected before `open`: connecting fenced any predecessor. */
  readonly writer: ChangeWriter;
  readonly offsets: OffsetsStore;
  /** The capture's observer (`noopObserver` when it has none). */
  readonly observer: CaptureObserver;
  /** Registers what the session opened: closed in reverse order when the session ends. */
  onClose(close: () => unknown): void;
}

/** How a source's sessions handle the control service's commands: one handler per type. */
export type SignalHandlers = Partial<Record<SignalType, (s: Signal) => Promise<void>>>;

export interface CaptureConnector {
  /** `postgresql`, `mongodb`: names the connector in logs and errors. */
  readonly connector: string;
  /** The source's name in the pipeline file. */
  readonly sourceName: string;
  /** The topic prefix (the held topic of paused tables is named after it). */
  readonly prefix: string;
  /** The offsets topic and the writer's transactional id (stable per source: it fences). */
  readonly offsetsTopic: string;
  readonly transactionalId: string;
  readonly transactionTimeoutMs?: number;
  /**
   * Connects to the source, reads the stored position and finds out what the plan needs
   * (`facts`). Registers everything it opens with `ctx.onClose`.
   */
  open(ctx: SessionContext): Promise<ConnectorSession>;
  /** Whether a new session may fix `err` (restarting is always safe). */
  retriable(err: unknown): boolean;
}

export interface ConnectorSession {
  readonly facts: SessionFacts;
  /** The error that stops the capture for `why` (naming the fix). */
  failure(why: FailReason): Error;
  /** Drops the source's history keeper: PostgreSQL's slot, MongoDB's stored start points. */
  discard(why: DiscardReason): Promise<void>;
  /** Makes a new start position (with a snapshot: one a consistent snapshot reads from). */
  start(snapshot: boolean): Promise<void>;
  /** Reads the initial snapshot (or the rest of it) and commits its position. */
  snapshot(signal: AbortSignal): Promise<void>;
  /**
   * Whether the capture answers ready while it reads the initial snapshot. `cdc up` starts the
   * consumers (processor, sink) once the captures are ready, and a processor loads its global
   * tables to their end when it starts: a snapshot that becomes visible in one transaction
   * (PostgreSQL's) must be committed first, or the processor starts with empty lookup tables
   * and the snapshot's stream rows race the rows they are enriched with. A snapshot committed
   * batch by batch (MongoDB's) may let consumers start at once. Default: false.
   */
  readonly readyWhileSnapshotting?: boolean;
  /** Prepares the snapshots that run beside the stream (new tables, resync requests); optional. */
  incremental?(): Promise<void>;
  /** The commands this source acts on; a type absent here is logged and skipped. */
  readonly signals: SignalHandlers;
  /**
   * Streams until `signal` aborts (resolves); tells the observer `running(true, 'streaming')`
   * once changes flow. A stream that ends by itself rejects (retriable), so a new session
   * continues (the coordinator makes sure of it).
   */
  stream(signal: AbortSignal, pauses: TablePauses): Promise<void>;
  /** Maps a session failure to the error to report (e.g. history lost while streaming); optional. */
  explain?(err: unknown): unknown;
}

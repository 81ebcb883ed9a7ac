/**
 * The MongoDB connector: one capture of a MongoDB source, run by `@cdc/capture`'s coordinator
 * (`runCapture`, `captureSession`), which plans each session (`planSession`) and walks the
 * steps this connector carries out (`session.ts`: start points, the initial snapshot, the
 * change streams).
 *
 * Any retriable failure (Kafka, the registry or MongoDB unavailable, a server restart, a
 * failed Kafka transaction) ends the session without storing anything more; the next session
 * starts after a backoff with jitter from what Kafka has, so nothing is lost or written twice.
 * Non-retriable failures (history lost without `when_needed`, fencing, configuration,
 * incompatible schema under `stop`) stop the capture with the error.
 */
import type { AvroSerde } from '@cdc/avro';
import {
  type CaptureOptions as BaseOptions,
  type CaptureConnector,
  type ConnectorSession,
  captureSession,
  noopObserver,
  RowGate,
  restartable,
  runCapture,
  type SessionContext,
} from '@cdc/capture';
import { CdcError } from '@cdc/core';
import type { MongoSource } from '@cdc/pipeline';
import { DocumentTransforms } from './collections.ts';
import { MongoSession } from './session.ts';
import type { Snapshotter } from './snapshot/snapshotter.ts';
import type { Streamer, StreamerStats } from './streaming/streamer.ts';

export interface CaptureOptions extends BaseOptions<MongoSource> {
  /** Built with `wrapUnions: true` (the inferred schemas' unions are written wrapped). */
  serde: AvroSerde;
}

export class MongoCapture implements CaptureConnector {
  readonly connector = 'mongodb';
  private readonly o: CaptureOptions;
  /** The running session's streamer and snapshotter (for `stats`, `snapshotProgress`). */
  streamer: Streamer | undefined;
  snapshotter: Snapshotter | undefined;

  /** Per-collection transforms; its gate remembers collections stopped by a rule across sessions. */
  readonly transforms: DocumentTransforms;

  constructor(options: CaptureOptions) {
    this.o = options;
    this.transforms = new DocumentTransforms(
      { tables: options.source.tables, maskSalt: options.source.maskSalt, source: options.source.name },
      this.prefix,
      new RowGate(
        (options.observer ?? noopObserver).quality,
        options.logger,
        (ns) =>
          `restart capture-mongo (\`cdc down; cdc up\`): the collection flows again; its held documents are listed by \`cdc quarantine list ${ns}\` — update them in MongoDB to capture them again, then \`cdc quarantine discard ${ns}\``,
      ),
    );
  }

  get sourceName(): string {
    return this.o.source.name;
  }

  get prefix(): string {
    return this.o.source.topicPrefix ?? this.o.source.name;
  }

  get offsetsTopic(): string {
    return this.o.source.offsetsTopic;
  }

  get transactionalId(): string {
    return `capture-mongo-${this.o.source.name}`;
  }

  get stats(): StreamerStats | undefined {
    return this.streamer?.stats;
  }

  get snapshotProgress() {
    return this.snapshotter?.progress;
  }

  /** Runs sessions until `signal` aborts (resolves) or a failure a new session cannot fix (rejects). */
  async run(signal: AbortSignal): Promise<void> {
    await runCapture(this, this.o, signal);
  }

  /** One session, until `signal` aborts (resolves) or it fails (rejects, having stored nothing more). */
  async attempt(signal: AbortSignal): Promise<void> {
    await captureSession(this, this.o, signal);
  }

  open(ctx: SessionContext): Promise<ConnectorSession> {
    return MongoSession.open(this, this.o, ctx);
  }

  retriable(err: unknown): boolean {
    return shouldRestart(err);
  }
}

/** Whether a new session may fix it (restarting is always safe: it resumes from what Kafka has). */
export function shouldRestart(err: unknown): boolean {
  const known = restartable(err);
  if (known !== undefined) return known;
  const e = err as { name?: string; message?: string; errorLabels?: unknown };
  if (typeof e?.name === 'string' && /Mongo(Network|ServerSelection|NotConnected|Topology)/.test(e.name))
    return true;
  const labels = (err as { hasErrorLabel?: (l: string) => boolean })?.hasErrorLabel;
  if (
    typeof labels === 'function' &&
    (labels.call(err, 'ResumableChangeStreamError') || labels.call(err, 'RetryableWriteError'))
  )
    return true;
  return /ECONNRE|socket|closed|interrupted|shutdown|not primary|connection/i.test(e?.message ?? '');
}

/**
 * A refused login (MongoDB's `AuthenticationFailed`, code 18) as a failure that restarting
 * cannot fix: it names the key of the pipeline file to correct. `undefined` for any other error.
 */
export function authenticationError(err: unknown, source: string, configPath: string): CdcError | undefined {
  const e = err as { code?: unknown; codeName?: unknown; message?: string };
  if (
    e?.code !== 18 &&
    e?.codeName !== 'AuthenticationFailed' &&
    !/authentication failed/i.test(e?.message ?? '')
  )
    return undefined;
  return new CdcError(
    'SOURCE_PERMISSION_DENIED',
    `MongoDB refused the login of source ${source} (${e?.message ?? String(err)}): fix the user name or password in ${configPath}.uri (mongodb://user:password@host/…, with authSource if the user is defined in another database) and start the capture again`,
    { context: { source, configKey: `${configPath}.uri` }, cause: err },
  );
}

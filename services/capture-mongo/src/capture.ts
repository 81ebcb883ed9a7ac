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
  type ConnectorSession,
  restartable,
  type SessionContext,
  SourceCapture,
} from '@cdc/capture';
import { CdcError } from '@cdc/core';
import type { MongoSource } from '@cdc/pipeline';
import { DocumentTransforms } from './collections.ts';
import { MongoSession } from './session.ts';
import type { Snapshotter } from './snapshot/snapshotter.ts';
import type { StreamerStats } from './streaming/streamer.ts';

export interface CaptureOptions extends BaseOptions<MongoSource> {
  /** Built with `wrapUnions: true` (the inferred schemas' unions are written wrapped). */
  serde: AvroSerde;
}

export class MongoCapture extends SourceCapture<MongoSource, CaptureOptions, StreamerStats> {
  /** The running session's snapshotter (for `snapshotProgress`). */
  snapshotter: Snapshotter | undefined;
  /** Per-collection transforms; its gate remembers collections stopped by a rule across sessions. */
  readonly transforms: DocumentTransforms;

  constructor(options: CaptureOptions) {
    super(options, { service: 'capture-mongo', connector: 'mongodb', retriable: shouldRestart });
    this.transforms = new DocumentTransforms(
      this.transformSpec,
      this.prefix,
      this.rowGate(
        (ns) =>
          `restart capture-mongo (\`cdc down; cdc up\`): the collection flows again; its held documents are listed by \`cdc quarantine list ${ns}\` — update them in MongoDB to capture them again, then \`cdc quarantine discard ${ns}\``,
      ),
    );
  }

  get snapshotProgress() {
    return this.snapshotter?.progress;
  }

  open(ctx: SessionContext): Promise<ConnectorSession> {
    return MongoSession.open(this, this.o, ctx);
  }
}

/** Whether a new session may fix it: `restartable`, and of the driver's errors the network and resumable ones. */
export const shouldRestart = (err: unknown): boolean => restartable(err, mongoTransientFailure);

function mongoTransientFailure(err: unknown): boolean {
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

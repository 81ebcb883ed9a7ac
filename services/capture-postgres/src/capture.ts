/**
 * The PostgreSQL connector: one capture of a PostgreSQL source, run by `@cdc/capture`'s
 * coordinator (`runCapture`, `captureSession`), which plans each session (`planSession`) and
 * walks the steps this connector carries out (`session.ts`: the slot, the initial snapshot,
 * the incremental snapshots, the replication stream).
 *
 * Any retriable failure (Kafka or PostgreSQL unavailable, a PostgreSQL restart, a Kafka
 * transaction that failed) ends the session without acknowledging anything more; the next
 * session starts after a backoff with jitter from the position that Kafka has, so nothing
 * is lost and nothing is written twice. Non-retriable failures (slot lost, permissions,
 * incompatible schema under `stop`, fencing) stop the capture with the error.
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
import type { PostgresSource } from '@cdc/pipeline';
import { PostgresSession } from './session.ts';
import type { Streamer } from './streaming/streamer.ts';
import { TableTransforms } from './streaming/table-transforms.ts';

export interface CaptureOptions extends BaseOptions<PostgresSource> {
  serde: AvroSerde;
}

export { pgConfig } from './session.ts';

export class PostgresCapture implements CaptureConnector {
  readonly connector = 'postgresql';
  private readonly o: CaptureOptions;
  /** The running session's streamer (for `stats`). */
  streamer: Streamer | undefined;
  /** Per-table transforms; its gate remembers tables stopped by a rule across sessions. */
  readonly transforms: TableTransforms;

  constructor(options: CaptureOptions) {
    this.o = options;
    const { source } = options;
    this.transforms = new TableTransforms(
      { tables: source.tables, maskSalt: source.maskSalt, source: source.name },
      this.prefix,
      new RowGate((options.observer ?? noopObserver).quality, options.logger),
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
    return `capture-postgres-${this.o.source.name}`;
  }

  get transactionTimeoutMs(): number {
    return this.o.source.snapshotOptions.transactionTimeoutMs;
  }

  get stats() {
    return this.streamer?.stats;
  }

  /** Runs sessions until `signal` aborts (resolves) or a failure a new session cannot fix (rejects). */
  async run(signal: AbortSignal): Promise<void> {
    await runCapture(this, this.o, signal);
  }

  /**
   * One session, until `signal` aborts (resolves), the work is done (`snapshot: initial_only`,
   * resolves) or it fails (rejects, having acknowledged nothing beyond what Kafka committed).
   */
  async attempt(signal: AbortSignal): Promise<void> {
    await captureSession(this, this.o, signal);
  }

  open(ctx: SessionContext): Promise<ConnectorSession> {
    return PostgresSession.open(this, this.o, ctx);
  }

  retriable(err: unknown): boolean {
    return shouldRestart(err);
  }
}

/**
 * Whether a new session may fix it. Restarting is always safe (it resumes from what Kafka
 * committed), so every failure of a server is worth it; configuration, lost positions,
 * fencing, refused schemas and bugs are not.
 */
export function shouldRestart(err: unknown): boolean {
  const known = restartable(err);
  if (known !== undefined) return known;
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && /^(E[A-Z]+|08...|57P0[1-3]|53300|40001|40P01)$/.test(e.code))
    return true;
  return /Connection terminated|connection closed|Connection ended|ECONNRE/i.test(e?.message ?? '');
}

/**
 * A refused login (wrong password, unknown user, no `pg_hba.conf` entry) as a failure that
 * restarting cannot fix: it names the keys of the pipeline file to correct. `undefined` for
 * any other error.
 */
export function authenticationError(
  err: unknown,
  source: PostgresSource,
  configPath: string,
): CdcError | undefined {
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  if (e?.code === '28P01' || /password authentication failed/i.test(message))
    return new CdcError(
      'SOURCE_PERMISSION_DENIED',
      `PostgreSQL refused the login of user ${source.connection.user} to ${source.connection.host}:${source.connection.port}/${source.connection.database} (${message}): fix ${configPath}.connection.password (or ${configPath}.connection.user) in the pipeline file and start the capture again`,
      { context: { source: source.name, configKey: `${configPath}.connection.password` }, cause: err },
    );
  if (e?.code === '28000' || /no pg_hba\.conf entry|role .* does not exist/i.test(message))
    return new CdcError(
      'SOURCE_PERMISSION_DENIED',
      `PostgreSQL refused the login of user ${source.connection.user} to ${source.connection.host}:${source.connection.port}/${source.connection.database} (${message}): fix ${configPath}.connection.user in the pipeline file (or allow the user in pg_hba.conf) and start the capture again`,
      { context: { source: source.name, configKey: `${configPath}.connection.user` }, cause: err },
    );
  return undefined;
}

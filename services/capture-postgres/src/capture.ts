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
  type ConnectorSession,
  restartable,
  type SessionContext,
  SourceCapture,
} from '@cdc/capture';
import { CdcError } from '@cdc/core';
import type { PostgresSource } from '@cdc/pipeline';
import { PostgresSession } from './session.ts';
import type { StreamerStats } from './streaming/streamer.ts';
import { TableTransforms } from './streaming/table-transforms.ts';

export interface CaptureOptions extends BaseOptions<PostgresSource> {
  serde: AvroSerde;
}

export { pgConfig } from './session.ts';

export class PostgresCapture extends SourceCapture<PostgresSource, CaptureOptions, StreamerStats> {
  /** Per-table transforms; its gate remembers tables stopped by a rule across sessions. */
  readonly transforms: TableTransforms;

  constructor(options: CaptureOptions) {
    super(options, { service: 'capture-postgres', connector: 'postgresql', retriable: shouldRestart });
    this.transforms = new TableTransforms(this.transformSpec, this.prefix, this.rowGate());
  }

  get transactionTimeoutMs(): number {
    return this.o.source.snapshotOptions.transactionTimeoutMs;
  }

  open(ctx: SessionContext): Promise<ConnectorSession> {
    return PostgresSession.open(this, this.o, ctx);
  }
}

/** Whether a new session may fix it: `restartable`, and of `pg`'s errors the connection failures. */
export const shouldRestart = (err: unknown): boolean => restartable(err, pgConnectionFailure);

function pgConnectionFailure(err: unknown): boolean {
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

/**
 * What every connector shares as a capture object: its names (source, topic prefix, offsets
 * topic, transactional id) and the two ways to run it (`run`: sessions until stopped, as tests
 * and embedding programs do; `attempt`: one session, as the service runner does). A connector
 * extends it with `open` (its session) and `retriable` (its verdict on its source's errors).
 */
import type { CaptureConnector, CaptureOptions, ConnectorSession, SessionContext } from './connector.ts';
import { captureSession, runCapture } from './coordinator.ts';
import { deadLetterTopic } from './dead-letter.ts';
import { type CaptureObserver, noopObserver } from './observer.ts';
import { RowGate } from './transforms/row-gate.ts';

interface NamedSource {
  name: string;
  tables: unknown;
  maskSalt?: string | undefined;
  topicPrefix?: string | undefined;
  offsetsTopic: string;
}

export abstract class SourceCapture<
  Source extends NamedSource,
  Options extends CaptureOptions<Source>,
  Stats = unknown,
> implements CaptureConnector
{
  readonly connector: string;
  /** The running session's streamer, set by the session: its `stats` are the capture's. */
  streamer: { readonly stats: Stats } | undefined;
  readonly transactionalId: string;
  protected readonly o: Options;

  readonly retriable: (err: unknown) => boolean;

  /**
   * `service`: `capture-postgres` (the transactional id is `<service>-<source>`); `connector`:
   * `postgresql`; `retriable`: whether a new session may fix an error (restarting is always safe).
   */
  constructor(
    options: Options,
    kind: { service: string; connector: string; retriable: (err: unknown) => boolean },
  ) {
    this.o = options;
    this.connector = kind.connector;
    this.transactionalId = `${kind.service}-${options.source.name}`;
    this.retriable = kind.retriable;
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

  /** Where changes that cannot be written go (`<prefix>.dead-letter`). */
  get deadLetterTopic(): string {
    return deadLetterTopic(this.prefix);
  }

  /** What the running session's streamer counted (undefined before the first session streams). */
  get stats(): Stats | undefined {
    return this.streamer?.stats;
  }

  protected get observer(): CaptureObserver {
    return this.o.observer ?? noopObserver;
  }

  /** What the source's transforms are compiled from (the pipeline file's `tables`, `maskSalt`). */
  protected get transformSpec(): { tables: Source['tables']; maskSalt?: string; source: string } {
    const { tables, maskSalt, name } = this.o.source;
    return { tables, ...(maskSalt === undefined ? {} : { maskSalt }), source: name };
  }

  /**
   * The gate of the source's transforms (it remembers tables stopped by a rule across
   * sessions); `fix`: what the operator does after fixing a quarantined row.
   */
  protected rowGate(fix?: (table: string) => string): RowGate {
    return new RowGate(this.observer.quality, this.o.logger, fix, this.o.clock);
  }

  /** Runs sessions until `signal` aborts (resolves) or a failure a new session cannot fix (rejects). */
  async run(signal: AbortSignal): Promise<void> {
    await runCapture(this, this.o, signal);
  }

  /**
   * One session, until `signal` aborts (resolves), the work is done (`initial_only`, resolves)
   * or it fails (rejects, having acknowledged nothing beyond what Kafka committed).
   */
  async attempt(signal: AbortSignal): Promise<void> {
    await captureSession(this, this.o, signal);
  }

  abstract open(ctx: SessionContext): Promise<ConnectorSession>;
}

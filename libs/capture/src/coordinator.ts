/**
 * The capture coordinator: one session of any connector, and the sessions until stopped. A
 * session connects the transactional writer (fencing any predecessor) and the offsets store,
 * opens the connector's session (which reads the stored position and the source's state), asks
 * `planSession` what to do and walks the steps; before streaming it loads the paused tables and
 * starts the signal channel, whose commands go to the connector's handler of their type.
 *
 * A session that fails has acknowledged nothing beyond what Kafka committed; the restart loop
 * (`runSessions`, on `@cdc/core`'s `supervise`, the same loop the service runner uses) starts a
 * new one after a backoff with jitter when the connector says a new session may fix it.
 */
import { CdcError, isRetriable } from '@cdc/core';
import { isRetriableKafkaError } from '@cdc/kafka';
import { ChangeWriter } from './change-writer.ts';
import type { CaptureConnector, CaptureOptions, ConnectorSession, SessionContext } from './connector.ts';
import { noopObserver } from './observer.ts';
import { OffsetsStore } from './offsets-store.ts';
import { runSessions } from './session-loop.ts';
import { planSession, type SessionStep } from './session-plan.ts';
import { type Signal, SignalChannel } from './signals.ts';
import { TablePauses } from './table-pauses.ts';

type Runtime = Omit<CaptureOptions<unknown>, 'source' | 'configPath'>;

/** How one session ended: the work is done (`initial_only`), or it was stopped. */
export type SessionEnd = 'finished' | 'stopped';

/**
 * Runs sessions until `signal` aborts (resolves) or a failure a new session cannot fix
 * (rejects).
 */
export async function runCapture(
  connector: CaptureConnector,
  o: Runtime,
  signal: AbortSignal,
): Promise<void> {
  await runSessions((s) => captureSession(connector, o, s).then(() => undefined), signal, {
    retriable: (err) => connector.retriable(err),
    logger: o.logger,
    clock: o.clock,
  });
}

/**
 * One session, until `signal` aborts (resolves), the work is done (`initial_only`, resolves) or
 * it fails (rejects, having acknowledged nothing beyond what Kafka committed).
 */
export async function captureSession(
  connector: CaptureConnector,
  o: Runtime,
  signal: AbortSignal,
): Promise<SessionEnd> {
  const observer = o.observer ?? noopObserver;
  const closers: (() => unknown)[] = [];
  let session: ConnectorSession | undefined;
  try {
    const offsets = new OffsetsStore({
      kafka: o.kafka,
      admin: o.admin,
      topic: connector.offsetsTopic,
      logger: o.logger,
      clock: o.clock,
    });
    await offsets.ensureTopic();
    const writer = await ChangeWriter.connect(o.kafka, {
      transactionalId: connector.transactionalId,
      logger: o.logger,
      ...(connector.transactionTimeoutMs === undefined
        ? {}
        : { transactionTimeoutMs: connector.transactionTimeoutMs }),
    });
    closers.push(() => writer.disconnect());
    const ctx: SessionContext = {
      signal,
      writer,
      offsets,
      observer,
      onClose: (close) => closers.push(close),
    };
    session = await connector.open(ctx);
    const steps = planSession(session.facts);
    o.logger.debug('session plan', { facts: session.facts, steps });
    for (const step of steps) {
      const end = await walk(step, session, connector, o, signal, closers);
      if (end) return end;
    }
    return 'stopped';
  } catch (err) {
    const reported = session?.explain ? session.explain(err) : err;
    observer.running(false, `session failed: ${(reported as Error)?.message ?? String(reported)}`);
    if (!signal.aborted) observer.error(reported);
    throw reported;
  } finally {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
  }
}

async function walk(
  step: SessionStep,
  session: ConnectorSession,
  connector: CaptureConnector,
  o: Runtime,
  signal: AbortSignal,
  closers: (() => unknown)[],
): Promise<SessionEnd | undefined> {
  switch (step.do) {
    case 'fail':
      throw session.failure(step.why);
    case 'discard':
      await session.discard(step.why);
      return undefined;
    case 'start':
      await session.start(step.snapshot);
      return undefined;
    case 'snapshot':
      (o.observer ?? noopObserver).running(session.readyWhileSnapshotting ?? false, 'snapshotting');
      await session.snapshot(signal);
      return undefined;
    case 'finish':
      o.logger.info(
        step.why === 'snapshot-taken'
          ? 'initial snapshot already taken (snapshot: initial_only)'
          : 'initial snapshot done (snapshot: initial_only)',
      );
      return 'finished';
    case 'stream': {
      if (signal.aborted) return 'stopped';
      await session.incremental?.();
      const pauses = new TablePauses({
        kafka: o.kafka,
        admin: o.admin,
        prefix: connector.prefix,
        logger: o.logger,
        clock: o.clock,
      });
      await pauses.load();
      if (o.signalTopic) {
        const channel = new SignalChannel({
          kafka: o.kafka,
          admin: o.admin,
          topic: o.signalTopic,
          source: connector.sourceName,
          logger: o.logger,
        });
        closers.push(() => channel.stop());
        await channel.start((s) => dispatchSignal(session, connector, o, s));
      }
      await session.stream(signal, pauses);
      if (!signal.aborted)
        throw new CdcError(
          'SOURCE_UNAVAILABLE',
          `the ${connector.connector} stream of source ${connector.sourceName} ended`,
          {
            retriable: true,
            context: { source: connector.sourceName },
          },
        );
      return 'stopped';
    }
  }
}

/** Hands a command to the connector's handler of its type; a type it has none for is logged and skipped. */
async function dispatchSignal(
  session: ConnectorSession,
  connector: CaptureConnector,
  o: Runtime,
  s: Signal,
): Promise<void> {
  const handle = session.signals[s.type];
  if (!handle) {
    o.logger.warn(`a ${s.type} signal was ignored: ${connector.connector} sources do not handle it`, {
      id: s.id,
      table: s.table,
    });
    return;
  }
  await handle(s);
}

const RESTARTABLE = new Set([
  'KAFKA_UNAVAILABLE',
  'KAFKA_REQUEST_FAILED',
  'KAFKA_TRANSACTION_FAILED',
  'SOURCE_UNAVAILABLE',
  'SCHEMA_REGISTRY_UNAVAILABLE',
]);

/**
 * Whether a new session may fix `err`: a `CdcError` that is retriable or comes from a server, a
 * Kafka error kafkajs calls retriable, or what `sourceSays` of any other error (the connector's
 * verdict on its source driver's errors). Restarting is always safe (it resumes from what Kafka
 * committed), so every failure of a server is worth it; configuration, lost positions,
 * fencing, refused schemas and bugs are not.
 */
export function restartable(err: unknown, sourceSays: (err: unknown) => boolean): boolean {
  if (err instanceof CdcError) return err.retriable || RESTARTABLE.has(err.code);
  if (isRetriable(err) || isRetriableKafkaError(err)) return true;
  return sourceSays(err);
}

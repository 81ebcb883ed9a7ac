/**
 * The service runner: what every service's `main.ts` shares. It reads the arguments and the
 * pipeline file, makes the logger and the telemetry listener, asks the service for its units of
 * work, and runs each unit under `supervise`: a retriable failure (a broker electing a leader,
 * metadata not yet propagated, a registry or ClickHouse restarting, a source server away)
 * restarts the unit in-process after a backoff with full jitter, without limit unless the
 * pipeline file's `restart.maxAttempts` sets one; `/readyz` and the metrics show the failures
 * in a row and the last error. Only a failure that retrying cannot fix ends the process, with
 * exit code 1 and a log line naming the cause (its message names the fix), or with exit code
 * `EXIT_NEEDS_FIX` (78) when only a person can fix it (a refused login): its supervisor does not
 * start it again; a bad pipeline file
 * or usage ends it with exit code 2. On SIGTERM/SIGINT every unit stops (each finishes or
 * aborts its open transaction), then what the service registered with `onClose` closes in
 * reverse order, then telemetry, last, so the final metrics and spans are exported.
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import {
  type Clock,
  EXIT_NEEDS_FIX,
  isCdcError,
  isRetriable,
  type Logger,
  type LogLevel,
  needsFix,
  supervise,
  systemClock,
} from '@cdc/core';
import { loadPipeline, type Pipeline } from '@cdc/pipeline';
import { createServiceLogger, createTelemetry, type Telemetry } from '@cdc/telemetry';
import { describe } from './describe.ts';
import { UnitStatus } from './unit-status.ts';

/** A long-running piece of a service that can be started again after a failure. */
export interface ServiceUnit {
  /** Names the unit in logs, `/readyz` (`unit <name>`) and metrics: `source shop`, `streams`, `sink`. */
  readonly name: string;
  /**
   * One attempt: connect, run until `signal` aborts (then stop cleanly and resolve) or fail
   * (reject, after releasing everything the attempt acquired, so the next one starts clean).
   * Resolving while `signal` has not aborted means the unit's work is done (`initial_only`).
   */
  attempt(signal: AbortSignal): Promise<void>;
  /** Which failures a new attempt may fix (default: `isRetriable`). */
  retriable?(err: unknown): boolean;
}

export interface ServiceContext {
  readonly pipeline: Pipeline;
  /** The parsed options (besides `--config`) and positionals. */
  readonly args: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
  /** Aborted on SIGTERM/SIGINT: a setup that waits (for a lock, say) gives up through it. */
  readonly signal: AbortSignal;
  /** Closed in reverse order of registration once every unit stopped (before telemetry). */
  onClose(close: () => unknown): void;
}

export interface ServiceDefinition {
  /** `capture-postgres`, `processor`, …: the logger's and the metrics' service name. */
  readonly service: string;
  /** The usage line printed on a usage error, after `usage: `. */
  readonly usage: string;
  /** Options besides `--config`. */
  readonly options?: ParseArgsOptionsConfig;
  readonly allowPositionals?: boolean;
  /**
   * Checks what the service needs from the pipeline file and makes its long-lived parts (those
   * that must not be made twice, such as an embedded database), returning its units. A
   * `CONFIG_INVALID` error here is a usage error (exit 2), anything else exits 1: connecting
   * to servers belongs in the units' attempts, where failures are retried.
   */
  setup(ctx: ServiceContext): Promise<readonly ServiceUnit[]> | readonly ServiceUnit[];
}

export interface StartOptions {
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /** Stops the service like SIGTERM (tests); `runService` wires the process signals instead. */
  stop?: AbortSignal;
  /** Where usage errors go (default: stderr). */
  stderr?: (line: string) => void;
}

/** Runs a service until it is stopped or fails; resolves with the process exit code. */
export async function startService(def: ServiceDefinition, options: StartOptions = {}): Promise<number> {
  const stderr = options.stderr ?? ((line: string) => process.stderr.write(`${line}\n`));
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  let args: ServiceContext['args'];
  try {
    const parsed = parseArgs({
      args: options.argv ?? process.argv.slice(2),
      options: { config: { type: 'string' }, ...def.options },
      allowPositionals: def.allowPositionals ?? false,
    });
    args = { values: parsed.values, positionals: parsed.positionals };
  } catch (err) {
    stderr(`${def.service}: ${(err as Error).message}\nusage: ${def.usage}`);
    return 2;
  }
  const config = args.values.config;
  if (typeof config !== 'string') {
    stderr(`usage: ${def.usage}`);
    return 2;
  }
  let pipeline: Pipeline;
  try {
    pipeline = loadPipeline(config, env);
  } catch (err) {
    stderr(`${def.service}: ${isCdcError(err) ? `${err.code}: ${err.message}` : String(err)}`);
    return 2;
  }
  const logger = createServiceLogger({
    service: def.service,
    config: pipeline,
    level: ((env.CDC_LOG_LEVEL ?? env.LOG_LEVEL) as LogLevel | undefined) ?? 'info',
  });
  const telemetry = createTelemetry({ service: def.service, config: pipeline.telemetry, logger });
  const closers: (() => unknown)[] = [];
  const stop = new AbortController();
  const onStop = () => stop.abort(options.stop?.reason ?? new Error('stopped'));
  if (options.stop?.aborted) onStop();
  options.stop?.addEventListener('abort', onStop, { once: true });
  let code = 0;
  try {
    await telemetry.start();
    let units: readonly ServiceUnit[];
    try {
      units = await def.setup({
        pipeline,
        args,
        logger,
        telemetry,
        clock,
        signal: stop.signal,
        onClose: (close) => closers.push(close),
      });
    } catch (err) {
      logger.error(`${def.service} cannot start: ${describe(err)}`, { err });
      return isCdcError(err, 'CONFIG_INVALID') ? 2 : 1;
    }
    await Promise.all(
      units.map((unit) =>
        runUnit(unit, stop.signal, { pipeline, logger, telemetry, clock }).catch((err: unknown) => {
          code = needsFix(err) ? EXIT_NEEDS_FIX : 1;
          logger.error(
            `${def.service} stopped: ${unit.name} failed and retrying cannot fix it: ${describe(err)}`,
            {
              err,
              unit: unit.name,
              ...(isCdcError(err) ? { code: err.code } : {}),
            },
          );
          stop.abort(err);
        }),
      ),
    );
    return code;
  } finally {
    options.stop?.removeEventListener('abort', onStop);
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        logger.warn('closing failed', { err });
      }
    }
    logger.info('stopped', { exitCode: code });
    await telemetry.shutdown().catch(() => undefined);
  }
}

/** One unit under the restart loop, its state on `/readyz` and in the metrics. */
async function runUnit(
  unit: ServiceUnit,
  signal: AbortSignal,
  ctx: { pipeline: Pipeline; logger: Logger; telemetry: Telemetry; clock: Clock },
): Promise<void> {
  const { pipeline, logger, telemetry, clock } = ctx;
  const status = new UnitStatus(clock);
  telemetry.readiness.register(`unit ${unit.name}`, () => status.check());
  telemetry.metrics.retryAttempt.set(0, { unit: unit.name });
  const r = pipeline.restart;
  await supervise((s) => unit.attempt(s), signal, {
    initialDelayMs: r.initialDelayMs,
    maxDelayMs: r.maxDelayMs,
    resetAfterMs: r.resetAfterMs,
    ...(r.maxAttempts > 0 ? { maxAttempts: r.maxAttempts } : {}),
    retriable: (err) => (unit.retriable ? unit.retriable(err) : isRetriable(err)),
    clock,
    onAttempt: (n) => {
      status.running(n);
      if (n > 1) logger.info(`${unit.name}: attempt ${n} starting`, { unit: unit.name, attempt: n });
    },
    onFailure: ({ err, attempt, retrying, delayMs }) => {
      if (!retrying) return;
      const code = isCdcError(err) ? err.code : ((err as Error)?.name ?? 'Error');
      status.failed(err, attempt, delayMs);
      telemetry.metrics.restarts.add(1, { unit: unit.name, code });
      telemetry.metrics.retryAttempt.set(attempt, { unit: unit.name });
      logger.warn(`${unit.name} failed; starting it again from what Kafka committed`, {
        unit: unit.name,
        err,
        failuresInARow: attempt,
        delayMs,
      });
    },
  });
}

/**
 * The process around `startService`: SIGTERM/SIGINT stop it (a second signal exits at once),
 * and the exit code is the process's.
 */
export function runService(def: ServiceDefinition): void {
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`${def.service}: second ${signal}, exiting without a clean stop\n`);
      process.exit(130);
    }
    process.stderr.write(
      `${JSON.stringify({ level: 'info', service: def.service, msg: 'stopping', signal })}\n`,
    );
    stop.abort(new Error(signal));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  startService(def, { stop: stop.signal }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(
        `${JSON.stringify({ level: 'error', service: def.service, msg: `${def.service} failed`, err: describe(err) })}\n`,
      );
      process.exit(1);
    },
  );
}

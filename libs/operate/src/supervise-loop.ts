/**
 * `cdc supervise`: the long-lived process `cdc up` starts. It starts the captures, then the
 * consumers (processor, sink) once every capture answers ready on /readyz (their topic
 * patterns resolve at start), restarts any service that exits unasked (restart-policy.ts),
 * keeps state.json and the pid files current, and on SIGTERM stops restarting and stops the
 * services in start order, captures first so that the sink drains what they wrote.
 *
 *   await superviseUntilSignalled({ config, services: [{ name, entry, args }], state, logger });
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { type Clock, type Logger, systemClock } from '@cdc/core';
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from './restart-policy.ts';
import { type RunnerContext, ServiceRunner, type SupervisedService } from './service-runner.ts';
import { isConsumer } from './services.ts';
import type { StackState, StateDir } from './state-dir.ts';
import { probeTelemetry } from './telemetry-probe.ts';

export interface SuperviseOptions {
  /** The pipeline file, as recorded in state.json. */
  config: string;
  /** In start order; consumers start after the others are ready. */
  services: readonly SupervisedService[];
  state: StateDir;
  logger: Logger;
  /** Aborting it stops the services and ends `supervise`. */
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  random?: () => number;
  policy?: RestartPolicy;
  /** How long the consumers wait for the captures' /readyz (default 120 s). */
  readyTimeoutMs?: number;
  /** How long each service may take to stop unless `down` asked for another grace (default 30 s). */
  graceMs?: number;
}

export async function supervise(o: SuperviseOptions): Promise<void> {
  const clock = o.clock ?? systemClock;
  const { state, logger, signal } = o;
  const stack: StackState = { config: o.config, supervisorPid: process.pid, services: {} };
  const persist = () => state.write(stack);
  mkdirSync(state.logDir, { recursive: true });
  mkdirSync(state.runDir, { recursive: true });
  rmSync(state.stopRequestFile, { force: true });
  state.writePid('supervisor', process.pid);
  persist();
  logger.info('supervisor started', { config: o.config, services: o.services.map((s) => s.name) });

  const ctx: RunnerContext = {
    state,
    env: o.env ?? process.env,
    clock,
    logger,
    policy: o.policy ?? DEFAULT_RESTART_POLICY,
    random: o.random ?? Math.random,
    changed: persist,
  };
  const runners: ServiceRunner[] = [];
  const startAll = async (specs: readonly SupervisedService[]) => {
    for (const spec of specs) {
      if (signal.aborted) return;
      const runner = new ServiceRunner(spec, await freePort(), ctx);
      stack.services[spec.name] = runner.state;
      runners.push(runner);
      runner.start();
    }
  };
  await startAll(o.services.filter((s) => !isConsumer(s.name)));
  const consumers = o.services.filter((s) => isConsumer(s.name));
  if (consumers.length > 0 && !signal.aborted) {
    await untilReady(runners, o.readyTimeoutMs ?? 120_000, clock, logger, signal);
    await startAll(consumers);
  }

  while (!signal.aborted) {
    await clock.sleep(5_000, signal).catch(() => undefined);
    if (runners.map((r) => r.refreshCrashLoop()).some(Boolean)) persist();
  }

  const graceMs = requestedGrace(state) ?? o.graceMs ?? 30_000;
  logger.info('supervisor stopping the services', { graceMs });
  for (const r of runners) {
    const stopped = await r.stop(graceMs);
    if (stopped)
      logger.info(stopped.forced ? 'service killed after the grace period' : 'service stopped', {
        service: r.spec.name,
        pid: stopped.pid,
      });
  }
  delete stack.supervisorPid;
  persist();
  state.removePid('supervisor');
  rmSync(state.stopRequestFile, { force: true });
  logger.info('supervisor stopped');
}

/** `supervise` until SIGTERM or SIGINT: the `cdc supervise` command. */
export async function superviseUntilSignalled(o: Omit<SuperviseOptions, 'signal'>): Promise<void> {
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    o.logger.info('supervisor got a signal', { signal: sig });
    stop.abort();
  };
  const ignore = () => undefined;
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', ignore);
  try {
    await supervise({ ...o, signal: stop.signal });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', ignore);
  }
}

/** Until every runner's service answers ready on its telemetry port, or `timeoutMs`. */
async function untilReady(
  runners: readonly ServiceRunner[],
  timeoutMs: number,
  clock: Clock,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  if (runners.length === 0) return;
  const deadline = clock.now() + timeoutMs;
  while (!signal.aborted) {
    const pending: string[] = [];
    for (const r of runners) {
      if (r.waitsForFix) continue; // it exited for good: its readiness never comes
      const p = r.state.pid > 0 ? await probeTelemetry(r.state.telemetryPort, 1_000) : undefined;
      if (!(p?.reachable && p.ready)) pending.push(r.spec.name);
    }
    if (pending.length === 0) {
      logger.info('captures ready; starting the consumers');
      return;
    }
    if (clock.now() >= deadline) {
      logger.warn(`not ready after ${Math.round(timeoutMs / 1000)} s; starting the consumers anyway`, {
        pending,
      });
      return;
    }
    await clock.sleep(500, signal).catch(() => undefined);
  }
}

/** The grace `down` asked for in `<state>/run/stop-request.json`, if it did. */
function requestedGrace(state: StateDir): number | undefined {
  try {
    if (!existsSync(state.stopRequestFile)) return undefined;
    const g = (JSON.parse(readFileSync(state.stopRequestFile, 'utf8')) as { graceMs?: unknown }).graceMs;
    return typeof g === 'number' && g >= 0 ? g : undefined;
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen({ port: 0, host: '127.0.0.1' }, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => done(port));
    });
  });
}

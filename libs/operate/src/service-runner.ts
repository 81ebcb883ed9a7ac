/**
 * One service under the supervisor: a child process in a process group of its own, its output
 * appended to its log, restarted by core's restart loop after every exit nobody asked for (after
 * a backoff delay, on the same telemetry port), each such exit recorded with the last error
 * line it logged. Its `state` object is what state.json shows for it; `changed` is called after
 * every change.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  type AttemptFailure,
  type Clock,
  EXIT_NEEDS_FIX,
  type Logger,
  supervise as restartLoop,
} from '@cdc/core';
import { lastErrorLine } from './last-error-line.ts';
import { groupAlive, signalGroup } from './process-control.ts';
import { isCrashLoop, type RestartPolicy, recordExit, restartSchedule } from './restart-policy.ts';
import type { ServiceName } from './services.ts';
import type { ServiceState, StateDir } from './state-dir.ts';

export interface SupervisedService {
  name: ServiceName;
  /** The script `node` runs (a service's `dist/main.js`). */
  entry: string;
  args: readonly string[];
}

export interface RunnerContext {
  state: StateDir;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  logger: Logger;
  policy: RestartPolicy;
  random: () => number;
  /** Called after every change of a runner's `state` (the supervisor writes state.json). */
  changed: () => void;
}

/** How much of the end of an incarnation's output is searched for its last error. */
const LOG_WINDOW = 64 * 1024;

export class ServiceRunner {
  readonly spec: SupervisedService;
  readonly state: ServiceState;
  private readonly ctx: RunnerContext;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private running: Promise<unknown> = Promise.resolve();
  private logOffset = 0;
  private readonly cancel = new AbortController();

  constructor(spec: SupervisedService, telemetryPort: number, ctx: RunnerContext) {
    this.spec = spec;
    this.ctx = ctx;
    this.state = {
      pid: 0,
      telemetryPort,
      startedAt: new Date(ctx.clock.now()).toISOString(),
      log: ctx.state.logFile(spec.name),
      restarts: 0,
      exits: [],
      crashLoop: false,
    };
  }

  /** Starts the service and keeps restarting it until `stop`. */
  start(): void {
    const { clock, logger, policy, random } = this.ctx;
    this.running = restartLoop(() => this.incarnation(), this.cancel.signal, {
      ...restartSchedule(policy),
      // A service that exits with EXIT_NEEDS_FIX (a refused login) waits for a person, not a restart.
      retriable: (err) => !(err instanceof ServiceExited && err.code === EXIT_NEEDS_FIX),
      clock,
      random,
      onAttempt: (n) => {
        this.state.restarts = n - 1;
      },
      onFailure: (f) => this.recordExit(f),
    }).catch((err: unknown) => {
      if (err instanceof ServiceExited && err.code === EXIT_NEEDS_FIX) {
        logger.error(
          'service stopped and is not restarted: it needs a fix (see its last error), then cdc up again',
          {
            service: this.spec.name,
            lastError: this.state.exits.at(-1)?.lastError,
          },
        );
        return;
      }
      logger.error('restart loop failed', { service: this.spec.name, err });
    });
  }

  /** Whether the service exited with EXIT_NEEDS_FIX and is not restarted (until `cdc down`, `cdc up`). */
  get waitsForFix(): boolean {
    return this.state.pid === 0 && this.state.exits.at(-1)?.code === EXIT_NEEDS_FIX;
  }

  /** Stops restarting; SIGTERM to the service's group, SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<{ pid: number; forced: boolean } | undefined> {
    this.cancel.abort();
    const pid = this.child?.pid;
    let forced = false;
    if (pid !== undefined) {
      signalGroup(pid, 'SIGTERM');
      const grace = new AbortController();
      forced = await Promise.race([
        this.exited.then(() => false),
        this.ctx.clock.sleep(graceMs, grace.signal).then(
          () => true,
          () => false,
        ),
      ]);
      grace.abort();
      if (forced) {
        signalGroup(pid, 'SIGKILL');
        await this.exited;
      }
    }
    await this.running;
    return pid === undefined ? undefined : { pid, forced };
  }

  /** Re-evaluates the crash-loop flag as exits age out of the window; whether it changed. */
  refreshCrashLoop(): boolean {
    const now = isCrashLoop(this.state.exits, this.ctx.clock.now(), this.ctx.policy);
    if (now === this.state.crashLoop) return false;
    this.state.crashLoop = now;
    return true;
  }

  /** One life of the process: any exit while not stopping is a failure for the restart loop. */
  private async incarnation(): Promise<never> {
    let exit: { code: number | null; signal: string | null };
    try {
      exit = await this.launch();
    } catch (err) {
      throw new ServiceExited(null, null, `could not start: ${(err as Error).message}`);
    }
    throw new ServiceExited(exit.code, exit.signal);
  }

  private launch(): Promise<{ code: number | null; signal: string | null }> {
    const { name, entry, args } = this.spec;
    const fd = openSync(this.state.log, 'a');
    try {
      this.logOffset = fstatSync(fd).size;
      const child = spawn(process.execPath, [entry, ...args], {
        cwd: process.cwd(),
        // CDC_STATE_DIR: the control service reads the other services' state (ports, restarts) from it.
        env: {
          ...this.ctx.env,
          CDC__TELEMETRY__HTTP__PORT: String(this.state.telemetryPort),
          CDC_STATE_DIR: this.ctx.state.dir,
        },
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      const exited = new Promise<{ code: number | null; signal: string | null }>((done, fail) => {
        child.once('exit', (code, signal) => done({ code, signal }));
        child.on('error', (err) => {
          if (child.pid === undefined) fail(err);
        });
      }).finally(() => {
        // What the service started and left in its group (it was killed, or forgot them) goes with it.
        if (child.pid !== undefined && groupAlive(child.pid)) signalGroup(child.pid, 'SIGKILL');
        this.child = undefined;
        this.state.pid = 0;
        this.ctx.state.removePid(name);
        this.ctx.changed();
      });
      this.child = child;
      this.exited = exited.catch(() => undefined);
      this.state.startedAt = new Date(this.ctx.clock.now()).toISOString();
      this.state.pid = child.pid ?? 0;
      if (child.pid !== undefined) this.ctx.state.writePid(name, child.pid);
      this.ctx.changed();
      this.ctx.logger.info('service started', {
        service: name,
        pid: child.pid,
        telemetryPort: this.state.telemetryPort,
        restarts: this.state.restarts,
      });
      return exited;
    } finally {
      closeSync(fd);
    }
  }

  private recordExit(f: AttemptFailure): void {
    const { clock, logger, policy } = this.ctx;
    const e = f.err instanceof ServiceExited ? f.err : new ServiceExited(null, null, String(f.err));
    const now = clock.now();
    const lastError = e.startError ?? lastErrorLine(readFrom(this.state.log, this.logOffset));
    const exit = { at: new Date(now).toISOString(), code: e.code, signal: e.signal, lastError };
    this.state.exits = recordExit(this.state.exits, exit, policy.keepExits);
    this.state.crashLoop = isCrashLoop(this.state.exits, now, policy);
    this.ctx.changed();
    if (e.code === EXIT_NEEDS_FIX) {
      this.ctx.changed();
      return;
    }
    logger.warn('service exited; restarting it', {
      service: this.spec.name,
      code: e.code,
      signal: e.signal,
      lastError,
      restartInMs: f.delayMs,
      exitsInARow: f.attempt,
      crashLoop: this.state.crashLoop,
    });
  }
}

/** An exit nobody asked for, as the restart loop sees it. */
class ServiceExited extends Error {
  readonly code: number | null;
  readonly signal: string | null;
  readonly startError: string | undefined;

  constructor(code: number | null, signal: string | null, startError?: string) {
    super(startError ?? (signal ? `exited on ${signal}` : `exited with code ${code}`));
    this.code = code;
    this.signal = signal;
    this.startError = startError;
  }
}

/** The output written since `offset` (its last 64 KiB at most). */
function readFrom(file: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const from = Math.max(offset, size - LOG_WINDOW);
    if (size <= from) return '';
    const buf = Buffer.alloc(size - from);
    readSync(fd, buf, 0, buf.length, from);
    return buf.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

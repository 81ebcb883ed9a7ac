/**
 * `cdc up` / `cdc down`. `up` starts one long-lived supervisor per state dir (`cdc supervise`,
 * supervise-loop.ts: detached, its output in `<state>/logs/supervisor.log`), which runs every
 * service of the pipeline file as a process of its own and restarts the ones that exit; `up`
 * waits until the supervisor has started them all and reports each. `down` asks the supervisor
 * to stop (SIGTERM: it stops restarting, stops the services captures first, and exits) and waits
 * for all of them to be gone; with no live supervisor it stops the recorded pids itself.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CdcError, EXIT_NEEDS_FIX } from '@cdc/core';
import { loadPipeline } from '@cdc/pipeline';
import { isAlive, isSupervisorAlive, signalOne, stopProcess } from './process-control.ts';
import {
  availability,
  isConsumer,
  packageCommand,
  SERVICES,
  type ServiceName,
  servicesOf,
} from './services.ts';
import { readPid, type ServiceState, type StackState, type StateDir } from './state-dir.ts';

export { isAlive } from './process-control.ts';
export {
  readPid,
  type ServiceExit,
  type ServiceState,
  type StackState,
  StateDir,
} from './state-dir.ts';

/** The built CLI: the supervisor runs as `node <this> supervise …`. */

export function tail(file: string, lines: number): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export interface UpResult {
  started: ServiceName[];
  running: ServiceName[];
  skipped: { name: ServiceName; reason: string }[];
  failed: { name: ServiceName; log: string }[];
}

export interface UpOptions {
  /** How long to wait for the supervisor to start every service (default 150 s: the captures may take 120 s to be ready). */
  startTimeoutMs?: number;
}

/** Starts the supervisor unless one runs for this state dir, then reports each service of the pipeline file. */
export async function up(
  configFile: string,
  state: StateDir,
  out: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
  options: UpOptions = {},
): Promise<UpResult> {
  const config = resolve(configFile);
  const pipeline = loadPipeline(config, env);
  const result: UpResult = { started: [], running: [], skipped: [], failed: [] };
  const wanted: ServiceName[] = [];
  for (const name of servicesOf(pipeline)) {
    const a = availability(name);
    if (a.available) wanted.push(name);
    else {
      out(`${name}: skipped, ${a.reason}`);
      result.skipped.push({ name, reason: a.reason });
    }
  }
  const prev = state.read();
  const before = new Set<ServiceName>();
  const preexisting = isSupervisorAlive(prev?.supervisorPid);
  let supervisorPid: number;
  if (preexisting && prev?.supervisorPid !== undefined) {
    supervisorPid = prev.supervisorPid;
    if (prev.config !== config)
      throw new CdcError(
        'CONFIG_INVALID',
        `a supervisor (pid ${supervisorPid}) already runs ${prev.config} from ${state.dir}: \`cdc down\` first, or pass another --state-dir`,
        { context: { running: prev.config, asked: config } },
      );
    for (const name of wanted) if (prev.services[name]) before.add(name);
  } else {
    await stopUnsupervised(state, out);
    supervisorPid = startSupervisor(config, state, env);
    out(`supervisor: started (pid ${supervisorPid}, log ${state.logFile('supervisor')})`);
  }

  const st = await untilStarted(state, supervisorPid, wanted, preexisting, options.startTimeoutMs ?? 150_000);
  // A service that fails its config or cannot connect exits within a moment: report it now.
  const fresh = wanted.filter((n) => !before.has(n) && st.services[n]);
  await sleep(fresh.length > 0 ? 2_500 : 0);
  const now = state.read() ?? st;
  for (const name of wanted) {
    const s = now.services[name];
    if (!s) {
      const reason =
        'not run by the supervisor (was the pipeline file changed after `cdc up`? `cdc down`, then `cdc up`)';
      out(`${name}: ${reason}`);
      result.skipped.push({ name, reason });
    } else if (before.has(name)) {
      out(
        `${name}: already running (${s.pid > 0 ? `pid ${s.pid}` : 'waiting to be restarted'}, ${restartsOf(s)})`,
      );
      result.running.push(name);
    } else if ((s.exits?.length ?? 0) > 0 || s.pid === 0 || !isAlive(s.pid)) {
      const last = s.exits?.at(-1);
      const how = last ? (last.signal ? `signal ${last.signal}` : `code ${last.code}`) : 'unknown';
      result.failed.push({ name, log: tail(s.log, 15) });
      const restarts =
        last?.code === EXIT_NEEDS_FIX
          ? 'it needs the fix its log names; the supervisor does not restart it: fix, then `cdc down` and `cdc up`'
          : 'the supervisor restarts it';
      out(
        `${name}: exited right after starting (${how}; ${restarts}); its log (${s.log}):\n${indent(tail(s.log, 15))}`,
      );
    } else {
      out(`${name}: started (pid ${s.pid}, telemetry 127.0.0.1:${s.telemetryPort}, log ${s.log})`);
      result.started.push(name);
    }
  }
  return result;
}

/** Stops what `cdc up` started, supervisor included, captures first so that the sink drains what they wrote. */
export async function down(state: StateDir, out: (line: string) => void, graceMs = 30_000): Promise<void> {
  const st = state.read();
  const names = SERVICES.filter((n) => st?.services[n]);
  const supervisorPid = st?.supervisorPid;
  const supervised = isSupervisorAlive(supervisorPid);
  if (names.length === 0 && !supervised) {
    out('nothing was started by `cdc up` here');
    return;
  }
  const reported = new Set<ServiceName>();
  if (supervised) {
    const pids = new Map<ServiceName, number>();
    for (const n of names) {
      const pid = readPid(state.pidFile(n));
      if (pid !== undefined && isAlive(pid)) pids.set(n, pid);
    }
    mkdirSync(state.runDir, { recursive: true });
    writeFileSync(state.stopRequestFile, `${JSON.stringify({ graceMs })}\n`);
    signalOne(supervisorPid, 'SIGTERM');
    // The supervisor stops the services one after the other, each within the grace period.
    const boundMs = graceMs * (names.length + 1) + 10_000;
    const deadline = Date.now() + boundMs;
    while (isAlive(supervisorPid) && Date.now() < deadline) {
      for (const [n, pid] of pids)
        if (!reported.has(n) && !isAlive(pid)) {
          out(`${n}: stopped (pid ${pid})`);
          reported.add(n);
        }
      await sleep(100);
    }
    if (isAlive(supervisorPid)) {
      out(`supervisor: did not stop within ${Math.round(boundMs / 1000)} s; killing it`);
      signalOne(supervisorPid, 'SIGKILL');
      while (isAlive(supervisorPid)) await sleep(50);
    }
    for (const [n, pid] of pids)
      if (!reported.has(n) && !isAlive(pid)) {
        out(`${n}: stopped (pid ${pid})`);
        reported.add(n);
      }
    out(`supervisor: stopped (pid ${supervisorPid})`);
  } else if (supervisorPid !== undefined) {
    out(`supervisor: was not running (pid ${supervisorPid}); stopping the services it left`);
  }
  // No live supervisor (or it died before it stopped everything): the recorded pids, as they are now.
  for (const name of names) {
    if (reported.has(name)) continue;
    const pid = readPid(state.pidFile(name));
    if (pid === undefined || !isAlive(pid)) {
      out(`${name}: was not running`);
    } else {
      const { forced } = await stopProcess(pid, graceMs);
      out(`${name}: stopped (pid ${pid}${forced ? `, killed after ${graceMs / 1000} s` : ''})`);
    }
    state.removePid(name);
  }
  const after = state.read();
  if (after && (after.supervisorPid !== undefined || names.some((n) => (after.services[n]?.pid ?? 0) > 0))) {
    delete after.supervisorPid;
    for (const n of names) {
      const s = after.services[n];
      if (s) s.pid = 0;
    }
    state.write(after);
  }
  state.removePid('supervisor');
}

/** Services left running with no live supervisor (an older `cdc up`, or a supervisor that was killed): stopped, so that the new supervisor owns them. */
async function stopUnsupervised(state: StateDir, out: (l: string) => void): Promise<void> {
  for (const name of SERVICES) {
    const pid = readPid(state.pidFile(name));
    if (pid === undefined || !isAlive(pid)) continue;
    out(`${name}: still running with no supervisor (pid ${pid}); stopping it so that the supervisor runs it`);
    await stopProcess(pid, 30_000);
    state.removePid(name);
  }
}

function startSupervisor(config: string, state: StateDir, env: NodeJS.ProcessEnv): number {
  // The supervisor is `cdc supervise`: the command of the @cdc/cli package, found as Node finds it.
  const cliMain = packageCommand('@cdc/cli')?.bin;
  if (cliMain === undefined || !existsSync(cliMain))
    throw new CdcError(
      'CONFIG_INVALID',
      'the `cdc` command (@cdc/cli) is not installed and built: run `npm install` and `npm run build`',
      { context: { missing: cliMain ?? '@cdc/cli' } },
    );
  mkdirSync(state.logDir, { recursive: true });
  const fd = openSync(state.logFile('supervisor'), 'a');
  try {
    const child = spawn(
      process.execPath,
      [cliMain, 'supervise', '--config', config, '--state-dir', state.dir],
      {
        cwd: process.cwd(),
        env,
        detached: true,
        stdio: ['ignore', fd, fd],
      },
    );
    if (child.pid === undefined) throw new CdcError('INVARIANT_VIOLATED', 'could not start the supervisor');
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** The state once `supervisorPid` has started every wanted service (a consumer once the captures are ready). */
async function untilStarted(
  state: StateDir,
  supervisorPid: number,
  wanted: readonly ServiceName[],
  preexisting: boolean,
  timeoutMs: number,
): Promise<StackState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = state.read();
    if (st?.supervisorPid === supervisorPid) {
      const missing = wanted.filter((n) => !st.services[n]);
      // A supervisor that ran before this `up` started its captures long ago: a capture missing now never comes.
      const hopeless = preexisting && missing.every((n) => !isConsumer(n));
      if (missing.length === 0 || hopeless) return st;
    }
    if (!isAlive(supervisorPid))
      throw new CdcError(
        'INVARIANT_VIOLATED',
        `the supervisor exited; its log (${state.logFile('supervisor')}):\n${indent(tail(state.logFile('supervisor'), 15))}`,
        {
          context: { pid: supervisorPid },
        },
      );
    if (Date.now() >= deadline)
      throw new CdcError(
        'INVARIANT_VIOLATED',
        `the supervisor (pid ${supervisorPid}) did not start every service within ${timeoutMs / 1000} s; see ${state.logFile('supervisor')}`,
        { context: { pid: supervisorPid } },
      );
    await sleep(200);
  }
}

function restartsOf(s: ServiceState): string {
  const n = s.restarts ?? 0;
  return `${n} restart${n === 1 ? '' : 's'}`;
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n');
}

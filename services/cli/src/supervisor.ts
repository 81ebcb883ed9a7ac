/**
 * `cdc up` / `cdc down`: every service of a pipeline file as a background process of its own
 * (own process group, detached), its output appended to `<state>/logs/<service>.log`, its pid
 * in `<state>/run/<service>.pid`, and what `status` needs (config, telemetry port) in
 * `<state>/state.json`. `down` stops only the pids it wrote: SIGTERM (the services finish their
 * transaction), SIGKILL after a grace period.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadPipeline } from '@cdc/pipeline';
import { availability, REPO_ROOT, type ServiceName, servicesOf } from './services.ts';

export interface ServiceState {
  pid: number;
  /** The telemetry listener's port (`CDC__TELEMETRY__HTTP__PORT` given to the service). */
  telemetryPort: number;
  startedAt: string;
  log: string;
}

export interface StackState {
  config: string;
  services: Partial<Record<ServiceName, ServiceState>>;
}

export class StateDir {
  readonly dir: string;

  constructor(dir: string | undefined) {
    this.dir = resolve(dir ?? resolve(REPO_ROOT, '.stack', 'pipeline'));
  }

  get logDir(): string {
    return resolve(this.dir, 'logs');
  }

  logFile(name: string): string {
    return resolve(this.logDir, `${name}.log`);
  }

  pidFile(name: string): string {
    return resolve(this.dir, 'run', `${name}.pid`);
  }

  read(): StackState | undefined {
    const f = resolve(this.dir, 'state.json');
    return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as StackState) : undefined;
  }

  write(state: StackState): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(resolve(this.dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
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

/** Starts what is not running; a service that is not in this checkout (or not built) is skipped and said so. */
export async function up(
  configFile: string,
  state: StateDir,
  out: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
  options: { beforeConsumers?: () => Promise<void> } = {},
): Promise<UpResult> {
  const config = resolve(configFile);
  const pipeline = loadPipeline(config, env);
  const prev = state.read();
  const st: StackState = { config, services: prev?.config === config ? prev.services : {} };
  const result: UpResult = { started: [], running: [], skipped: [], failed: [] };
  mkdirSync(state.logDir, { recursive: true });
  mkdirSync(resolve(state.dir, 'run'), { recursive: true });
  const consumers: ServiceName[] = ['processor', 'sink-clickhouse'];
  let waited = false;
  for (const name of servicesOf(pipeline)) {
    if (consumers.includes(name) && !waited && result.started.some((s) => !consumers.includes(s))) {
      // Consumers resolve topic patterns when they start: let the captures create their topics first.
      waited = true;
      await options.beforeConsumers?.();
    }
    const pid = readPid(state.pidFile(name));
    if (pid !== undefined && isAlive(pid)) {
      out(`${name}: already running (pid ${pid})`);
      result.running.push(name);
      continue;
    }
    const a = availability(name);
    if (!a.available) {
      out(`${name}: skipped, ${a.reason}`);
      result.skipped.push({ name, reason: a.reason });
      continue;
    }
    const telemetryPort = await freePort();
    const log = state.logFile(name);
    const fd = openSync(log, 'a');
    try {
      const child = spawn(process.execPath, [a.entry, '--config', config], {
        cwd: process.cwd(),
        env: { ...env, CDC__TELEMETRY__HTTP__PORT: String(telemetryPort) },
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      if (child.pid === undefined) throw new Error(`could not start ${name}`);
      child.unref();
      writeFileSync(state.pidFile(name), `${child.pid}\n`);
      st.services[name] = { pid: child.pid, telemetryPort, startedAt: new Date().toISOString(), log };
      result.started.push(name);
    } finally {
      closeSync(fd);
    }
  }
  state.write(st);
  // A service that fails its config or cannot connect exits within a moment: report it now.
  await sleep(result.started.length > 0 ? 2_500 : 0);
  for (const name of result.started) {
    const s = st.services[name];
    if (s && !isAlive(s.pid)) {
      result.failed.push({ name, log: tail(s.log, 15) });
      out(`${name}: exited right after starting; its log (${s.log}):\n${indent(tail(s.log, 15))}`);
    } else if (s) {
      out(`${name}: started (pid ${s.pid}, telemetry 127.0.0.1:${s.telemetryPort}, log ${s.log})`);
    }
  }
  return result;
}

/** Stops the services `up` started, sources first so that the sink drains what they wrote. */
export async function down(state: StateDir, out: (line: string) => void, graceMs = 30_000): Promise<void> {
  const st = state.read();
  const names = Object.keys(st?.services ?? {}) as ServiceName[];
  if (names.length === 0) {
    out('nothing was started by `cdc up` here');
    return;
  }
  for (const name of names) {
    const pid = readPid(state.pidFile(name));
    if (pid === undefined || !isAlive(pid)) {
      out(`${name}: was not running`);
      rmSync(state.pidFile(name), { force: true });
      continue;
    }
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        try {
          process.kill(pid, sig);
        } catch {
          /* gone */
        }
      }
    };
    kill('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    const forced = isAlive(pid);
    if (forced) {
      kill('SIGKILL');
      while (isAlive(pid)) await sleep(50);
    }
    rmSync(state.pidFile(name), { force: true });
    out(`${name}: stopped (pid ${pid}${forced ? `, killed after ${graceMs / 1000} s` : ''})`);
  }
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n');
}

/**
 * What `cdc up` leaves on disk for `status`, `logs` and `down`: `<state>/state.json` (the
 * pipeline file, the supervisor's pid, each service's pid, telemetry port, restarts and recent
 * exits), `<state>/run/<service>.pid` and `<state>/logs/<service>.log`. The supervisor is the
 * only writer of state.json while it runs; every write replaces the file whole (temp file,
 * then rename), so a reader never sees half of one.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT, type ServiceName } from './services.ts';

/** An exit of a service that nobody asked for (a crash, a kill, or even code 0 while not stopping). */
export interface ServiceExit {
  at: string;
  code: number | null;
  signal: string | null;
  /** The last error-looking line the service logged in that incarnation (see last-error-line.ts). */
  lastError: string;
}

export interface ServiceState {
  /** The current child's pid; 0 while the supervisor waits to restart it (or after it stopped). */
  pid: number;
  /** The telemetry listener's port (`CDC__TELEMETRY__HTTP__PORT`), the same across restarts. */
  telemetryPort: number;
  /** When this incarnation started. */
  startedAt: string;
  log: string;
  /** How many times the supervisor restarted it. Absent in state written before the supervisor existed. */
  restarts: number;
  /** Unrequested exits, newest last, at most 20 kept. */
  exits: ServiceExit[];
  /** 5 or more unrequested exits within the last 5 minutes. */
  crashLoop: boolean;
}

export interface StackState {
  config: string;
  /** The `cdc supervise` process that runs and restarts the services (absent once it stopped). */
  supervisorPid?: number;
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

  get runDir(): string {
    return resolve(this.dir, 'run');
  }

  logFile(name: string): string {
    return resolve(this.logDir, `${name}.log`);
  }

  pidFile(name: string): string {
    return resolve(this.runDir, `${name}.pid`);
  }

  /** Written by `down` before it signals the supervisor: how long each service may take to stop. */
  get stopRequestFile(): string {
    return resolve(this.runDir, 'stop-request.json');
  }

  read(): StackState | undefined {
    const f = resolve(this.dir, 'state.json');
    return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as StackState) : undefined;
  }

  write(state: StackState): void {
    mkdirSync(this.dir, { recursive: true });
    const f = resolve(this.dir, 'state.json');
    const tmp = `${f}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, f);
  }

  writePid(name: string, pid: number): void {
    mkdirSync(this.runDir, { recursive: true });
    writeFileSync(this.pidFile(name), `${pid}\n`);
  }

  removePid(name: string): void {
    rmSync(this.pidFile(name), { force: true });
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

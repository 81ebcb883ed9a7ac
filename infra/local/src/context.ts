import { execFile, spawn as spawnChild } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { type LocalEndpoints, localEndpoints, stackDir } from './endpoints.ts';
import { type PortName, port } from './ports.ts';

const execFileP = promisify(execFile);

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this user (servers such as PostgreSQL refuse to run as root). */
  uid?: number;
  gid?: number;
}

/** Everything a server module may use: folders, ports, endpoints, and process helpers. */
export class StackContext {
  readonly root: string;
  readonly dir: string;
  readonly cacheDir: string;
  readonly dataDir: string;
  readonly logDir: string;
  readonly runDir: string;
  readonly toolsDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly endpoints: LocalEndpoints;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.env = env;
    this.root = resolve(import.meta.dirname, '../../..');
    this.dir = stackDir(env);
    // Downloads (Maven, pip, ...) may live outside the stack folder so that fresh clones on one machine share them.
    this.cacheDir = resolve(env.CDC_STACK_CACHE_DIR ?? resolve(this.dir, 'cache'));
    this.dataDir = resolve(this.dir, 'data');
    this.logDir = resolve(this.dir, 'logs');
    this.runDir = resolve(this.dir, 'run');
    this.toolsDir = resolve(this.dir, 'tools');
    for (const d of [this.cacheDir, this.dataDir, this.logDir, this.runDir, this.toolsDir]) {
      mkdirSync(d, { recursive: true });
    }
    this.endpoints = localEndpoints(env);
  }

  port(name: PortName): number {
    return port(name, this.env);
  }

  /** `.stack/data/<name>`, created. */
  serverDataDir(name: string): string {
    const d = resolve(this.dataDir, name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  logFile(name: string): string {
    return resolve(this.logDir, `${name}.log`);
  }

  pidFile(name: string): string {
    return resolve(this.runDir, `${name}.pid`);
  }

  /**
   * Starts a long-running process detached from this one (its own process group), output
   * appended to `.stack/logs/<name>.log`, pid written to `.stack/run/<name>.pid`.
   */
  spawn(name: string, command: string, args: readonly string[], opts: SpawnOptions = {}): number {
    const fd = openSync(this.logFile(name), 'a');
    try {
      const child = spawnChild(command, args, {
        cwd: opts.cwd ?? this.dir,
        env: { ...process.env, ...opts.env },
        detached: true,
        stdio: ['ignore', fd, fd],
        ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid ?? opts.uid }),
      });
      if (child.pid === undefined) throw new Error(`could not start ${command} for ${name}`);
      child.unref();
      writeFileSync(this.pidFile(name), `${child.pid}\n`);
      return child.pid;
    } finally {
      closeSync(fd);
    }
  }

  /** Runs a command to completion; throws with its output when it fails. */
  async run(
    command: string,
    args: readonly string[],
    opts: SpawnOptions & { timeoutMs?: number } = {},
  ): Promise<string> {
    try {
      const { stdout } = await execFileP(command, args, {
        cwd: opts.cwd ?? this.dir,
        env: { ...process.env, ...opts.env },
        maxBuffer: 64 * 1024 * 1024,
        ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid ?? opts.uid }),
        timeout: opts.timeoutMs ?? 20 * 60_000,
      });
      return stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      const out = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-40).join('\n');
      throw new Error(`${command} ${args.join(' ')} failed: ${e.message.split('\n')[0]}\n${out}`);
    }
  }

  log(message: string): void {
    process.stderr.write(`[stack] ${message}\n`);
  }
}

/**
 * The contract between the stack runner and each server it manages. A server module knows how
 * to install itself (idempotently, caching downloads under `ctx.cacheDir`), how to start one
 * process in the background, and how to prove it is really serving (a real query, not a port
 * probe). The runner does the rest: prerequisites, port checks, pid files, waiting, stopping.
 */
import type { StackContext } from './context.ts';
import type { PortName } from './ports.ts';

export interface Health {
  /** The server's own version as it reports it (e.g. from `SELECT version()`). */
  version: string;
  /** How a client connects (a URL or broker list), secrets included only if they are the stack's fixed dev ones. */
  connection: string;
  /** Anything else worth showing in `status`. */
  detail?: string;
}

export interface Prerequisite {
  /** A command that must be on PATH. */
  command: string;
  /** What to do when it is missing. */
  fix: string;
  /** The Debian package that provides it; the runner installs it when it runs as root. */
  aptPackage?: string;
}

export interface LocalServer {
  readonly name: string;
  readonly description: string;
  /** Ports this server binds; the runner refuses to start it when one is taken by something else. */
  readonly ports: readonly PortName[];
  /** Debian packages it needs; the runner installs missing ones in one apt-get run (as root). */
  readonly aptPackages?: readonly string[];
  readonly prerequisites?: readonly Prerequisite[];
  /** How long start-up may take before the runner gives up (default 120 s). */
  readonly startTimeoutMs?: number;
  /** Signal for a graceful stop (default SIGTERM). */
  readonly stopSignal?: NodeJS.Signals;
  /** Installs binaries and initialises data; must be fast when already done. */
  install(ctx: StackContext): Promise<void>;
  /** Starts the server in the background with `ctx.spawn`; returns without waiting for readiness. */
  start(ctx: StackContext): Promise<void>;
  /** Proves the server serves by a real request; throws when it does not. */
  health(ctx: StackContext): Promise<Health>;
  /** Proves the process accepts connections, before `afterStart` runs; defaults to `health`. */
  ready?(ctx: StackContext): Promise<unknown>;
  /** Optional work once the server is ready (users, topics, replica-set initiation). Idempotent. */
  afterStart?(ctx: StackContext): Promise<void>;
}

/**
 * When the supervisor restarts a service that exited, and when it calls that a crash loop
 * (like systemd's `Restart=on-failure` with `RestartSec` growing and a start-limit window).
 * Pure: time comes in as numbers, randomness as a function.
 */
import type { SuperviseOptions } from '@cdc/core';
import type { ServiceExit } from './state-dir.ts';

export interface RestartPolicy {
  /** The first restart waits a random time in [0, initialDelayMs]; each further one doubles the ceiling. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A service that stayed up this long starts over with the shortest delay. */
  resetAfterMs: number;
  /** This many unrequested exits within `crashLoopWindowMs` is a crash loop. */
  crashLoopExits: number;
  crashLoopWindowMs: number;
  /** How many exits state.json keeps per service. */
  keepExits: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  resetAfterMs: 60_000,
  crashLoopExits: 5,
  crashLoopWindowMs: 5 * 60_000,
  keepExits: 20,
};

/**
 * The options of core's restart loop (`supervise` in @cdc/core) for a service process: every
 * exit is worth another start (exit code 2, a usage or config error, too: the crash-loop flag
 * says so), after `backoffDelay(failures in a row - 1, initial, max)`.
 */
export function restartSchedule(
  policy: RestartPolicy,
): Pick<SuperviseOptions, 'initialDelayMs' | 'maxDelayMs' | 'resetAfterMs' | 'retriable'> {
  return {
    initialDelayMs: policy.initialDelayMs,
    maxDelayMs: policy.maxDelayMs,
    resetAfterMs: policy.resetAfterMs,
    retriable: () => true,
  };
}

/** `exits` with `exit` appended, only the newest `keep` kept. */
export function recordExit(exits: readonly ServiceExit[], exit: ServiceExit, keep: number): ServiceExit[] {
  return [...exits, exit].slice(-keep);
}

/** How many of `exits` happened within the crash-loop window before `now`. */
export function recentExits(exits: readonly ServiceExit[], now: number, policy: RestartPolicy): number {
  return exits.filter((e) => now - Date.parse(e.at) <= policy.crashLoopWindowMs).length;
}

export function isCrashLoop(exits: readonly ServiceExit[], now: number, policy: RestartPolicy): boolean {
  return recentExits(exits, now, policy) >= policy.crashLoopExits;
}

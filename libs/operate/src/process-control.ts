/**
 * Signals to the processes `cdc up` started. Every service and the supervisor run in a process
 * group of their own (spawned detached), so a signal to the group also reaches whatever a
 * service started itself.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Whether any process of the group `pgid` is left. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `sig` to the process group led by `pid`, or to `pid` alone when it leads none. */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

/** `sig` to `pid` alone (not its group), if it still exists. */
export function signalOne(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** Whether `pid` is a live `cdc supervise` process (not a process that reused its pid). */
export function isSupervisorAlive(pid: number | undefined): pid is number {
  if (pid === undefined || pid <= 0 || !isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('supervise');
  } catch {
    return true;
  }
}

/**
 * SIGTERM to the group of `pid`, SIGKILL after `graceMs`; resolves once the process is gone.
 * What the service left in its group after it exited is killed too.
 */
export async function stopProcess(pid: number, graceMs: number): Promise<{ forced: boolean }> {
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  const forced = isAlive(pid);
  if (forced) signalGroup(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(50);
  if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
  return { forced };
}

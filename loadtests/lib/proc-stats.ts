/** What a benchmark reads about a child process from /proc (Linux). */
import { readFileSync } from 'node:fs';

/** User + system CPU seconds a process has used so far, all its threads (/proc/<pid>/stat, ticks of 10 ms); NaN once it is gone. */
export function cpuSeconds(pid: number | undefined): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** User + system CPU seconds of one thread of a process so far (/proc/<pid>/task/<tid>/stat); NaN once it is gone. */
export function threadCpuSeconds(pid: number, tid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
}

function statCpuSeconds(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Peak resident set size (VmHWM) of a process in MiB; NaN once it is gone. */
export function peakRssMiB(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
  } catch {
    return Number.NaN;
  }
}

/**
 * Time and CPU of a produce loop in this process: all threads (librdkafka's own and V8's garbage
 * collector helpers count) and the main thread alone (where JavaScript runs: what a capture
 * could not spend on decoding and encoding rows).
 */
import { threadCpuSeconds } from './proc-stats.ts';

export interface Measured {
  seconds: number;
  cpuSeconds: number;
  mainThreadCpuSeconds: number;
}

/** Starts measuring; the function it returns stops and gives the figures since the start. */
export function startMeter(): () => Measured {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const m0 = threadCpuSeconds(process.pid, process.pid);
  return () => {
    const cpu = process.cpuUsage(c0);
    return {
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      mainThreadCpuSeconds: threadCpuSeconds(process.pid, process.pid) - m0,
    };
  };
}

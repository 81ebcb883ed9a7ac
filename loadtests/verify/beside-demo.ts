/**
 * `cdc verify --continuous` beside the demo: does it raise the demo's end-to-end latency?
 *
 * One demo run (`scripts/demo.ts`, 50 tx/s, scale 0.02), and beside it one continuous verifier at
 * its default pace (20,000 rows/s, 60 s between runs) started 10 s in. After a warm-up the run is
 * cut into phases that alternate the two conditions: in an "off" phase the verifier is stopped
 * (SIGSTOP), in an "on" phase it runs (SIGCONT; a run that came due while it was stopped starts
 * at once). So both conditions see the same pipeline, the same tables and, phase after phase, the
 * same machine load (the machine is shared: runs made one after the other differed by 2× alone).
 *
 * The demo prints the end-to-end latency p99 (source commit → ClickHouse insert) of each 5 s
 * window; a window belongs to a phase when it lies inside it, the first one after a switch left
 * out. Reported: the median window p99 of each condition, their ratio, the medians phase by phase,
 * each "on" phase's median over the "off" phase before it and the median of those ratios,
 * and the verifier's CPU seconds per 100,000 rows verified (its process's user + system time;
 * rows from its `cdc_verify_rows_checked_total`). The verifier's queries that run inside the sink
 * (the embedded engine behind its read endpoint) count in the sink's CPU, not in this figure.
 *
 *   node loadtests/verify/beside-demo.ts [--phases 6] [--phase 60] [--warmup 40] \
 *     [--interval 60] [--rows-per-second 20000] [--json]
 *
 * Needs the local stack and built services (`npx turbo run build`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    phases: { type: 'string', default: '6' },
    phase: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '40' },
    // The verifier's pause between runs: its default (60 s); 0 runs it back to back.
    interval: { type: 'string', default: '60' },
    'rows-per-second': { type: 'string', default: '20000' },
    json: { type: 'boolean', default: false },
  },
});
const ROOT = resolve(import.meta.dirname, '../..');
const PHASES = Number(values.phases);
const PHASE = Number(values.phase);
const WARMUP = Number(values.warmup);
const DURATION = WARMUP + PHASES * PHASE;
const log = (s: string) => {
  if (!values.json) process.stderr.write(`${s}\n`);
};

/** `… e2e p50 12 ms p99 45 ms …` → seconds. */
const p99Of = (line: string): number | undefined => {
  const m = /e2e p50 \S+ (?:ms|s) p99 ([\d.]+) (ms|s)/.exec(line);
  if (!m) return undefined;
  return Number(m[1]) / (m[2] === 'ms' ? 1000 : 1);
};

/** A process's user + system CPU seconds (Linux `/proc/<pid>/stat`, clock ticks of 1/100 s). */
const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/** Phase `i` (0-based) is "on" when odd: every pair starts with the verifier stopped. */
const isOn = (i: number) => i % 2 === 1;

const db = `vdemo_${process.pid}`;
const env = {
  ...process.env,
  CDC_DEMO_DB: db,
  CDC_DEMO_CLICKHOUSE_HTTP_PORT: String(18_700 + (process.pid % 90)),
};
const demo = spawn(
  process.execPath,
  ['scripts/demo.ts', '--duration', String(DURATION), '--rate', '50', '--scale', '0.02', '--timeout', '180'],
  { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
);
const windows: { at: number; p99: number }[] = [];
let out = '';
let verifier: ChildProcess | undefined;
let metricsUrl: string | undefined;
let phase = -1;
const onLine = (line: string) => {
  // The demo's live line every 5 s: `cdc demo 35 s | … | e2e p50 12 ms p99 45 ms`.
  const elapsed = /^cdc demo (\d+) s/.exec(line)?.[1];
  if (elapsed === undefined) return;
  const at = Number(elapsed);
  const p = p99Of(line);
  if (p !== undefined) windows.push({ at, p99: p });
  if (!verifier && at >= 10) {
    verifier = spawn(
      process.execPath,
      [
        'services/cli/dist/main.js',
        'verify',
        '--continuous',
        '--interval',
        values.interval,
        '--rows-per-second',
        values['rows-per-second'],
        '--metrics-port',
        '0',
        '--config',
        'infra/pipelines/demo.yaml',
      ],
      { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    verifier.stderr?.on('data', (d) => {
      const text = String(d);
      metricsUrl ??= /metrics on (http:\/\/\S+\/metrics)/.exec(text)?.[1];
      log(`  [verify] ${text.trim()}`);
    });
  }
  // Switch phases on the demo's own clock.
  const now = at >= WARMUP ? Math.floor((at - WARMUP) / PHASE) : -1;
  if (verifier?.pid && now !== phase && now >= 0 && now < PHASES) {
    phase = now;
    verifier.kill(isOn(phase) ? 'SIGCONT' : 'SIGSTOP');
    log(`phase ${phase + 1}/${PHASES}: verifier ${isOn(phase) ? 'on' : 'off'}`);
  }
};
let buf = '';
const feed = (d: Buffer) => {
  out += String(d);
  buf += String(d);
  const lines = buf.split('\n');
  buf = lines.pop() ?? '';
  for (const l of lines) onLine(l);
};
demo.stdout.on('data', feed);
demo.stderr.on('data', feed);
const code = await new Promise<number | null>((r) => demo.once('exit', r));
let verifierCpu = Number.NaN;
let rowsVerified = Number.NaN;
if (verifier?.pid) {
  verifier.kill('SIGCONT');
  if (metricsUrl) {
    const text = await (await fetch(metricsUrl)).text().catch(() => '');
    rowsVerified = text
      .split('\n')
      .filter((l) => l.startsWith('cdc_verify_rows_checked_total'))
      .reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);
  }
  verifierCpu = cpuSeconds(verifier.pid);
  verifier.kill('SIGTERM');
  await sleep(500);
}
if (code !== 0) log(`demo ${db} exited ${code}:\n${out.slice(-2000)}`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};
const phases = Array.from({ length: PHASES }, (_, i) => {
  const start = WARMUP + i * PHASE;
  const p99s = windows.filter((w) => w.at - 5 >= start + 5 && w.at <= start + PHASE).map((w) => w.p99);
  return {
    phase: i + 1,
    verifier: isOn(i) ? 'on' : 'off',
    windows: p99s.length,
    p99MedianSeconds: median(p99s),
  };
});
const of = (on: boolean) =>
  phases
    .filter((p) => (p.verifier === 'on') === on)
    .flatMap((p) => {
      const start = WARMUP + (p.phase - 1) * PHASE;
      return windows.filter((w) => w.at - 5 >= start + 5 && w.at <= start + PHASE).map((w) => w.p99);
    });
const off = of(false);
const on = of(true);
// Each "on" phase against the "off" phase just before it: machine load that drifts over the run
// moves both alike.
const pairRatios = phases
  .filter((p) => p.verifier === 'on')
  .map((p) =>
    Number((p.p99MedianSeconds / (phases[p.phase - 2]?.p99MedianSeconds ?? Number.NaN)).toFixed(3)),
  );
const report = {
  phases,
  pairRatios,
  medianPairRatio: median(pairRatios),
  windows: { off: off.length, on: on.length },
  p99MedianSeconds: { off: median(off), on: median(on) },
  ratioOfMedians: Number((median(on) / median(off)).toFixed(3)),
  verifier: {
    cpuSeconds: verifierCpu,
    rowsVerified,
    cpuSecondsPer100kRows: Number(((verifierCpu / rowsVerified) * 100_000).toFixed(3)),
  },
};
process.stdout.write(`${JSON.stringify(report, null, values.json ? 0 : 2)}\n`);

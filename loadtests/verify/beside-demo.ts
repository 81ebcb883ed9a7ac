/**
 * `cdc verify --continuous` beside the demo: the end-to-end latency the demo reports (p99 over
 * each 5 s window, source commit → ClickHouse insert) in two runs of the same demo, one alone and
 * one with the continuous verifier at its default pace (20,000 source rows/s, 60 s between runs;
 * `--interval 0`: back to back) started once the pipeline runs. Reports the median and the highest window p99 of each run
 * after a warm-up, and their ratio. One machine, shared: the runs are sequential, so machine load
 * that changes between them shows in the ratio; repeat with `--pairs`.
 *
 *   node loadtests/verify/beside-demo.ts [--duration 90] [--pairs 1] [--interval 60] [--json]
 *
 * Needs the local stack and built services (`npx turbo run build`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '90' },
    pairs: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '30' },
    // The verifier's pause between runs: its default (60 s); 0 runs it back to back.
    interval: { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
  },
});
const ROOT = resolve(import.meta.dirname, '../..');
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const INTERVAL = values.interval;
const log = (s: string) => {
  if (!values.json) process.stderr.write(`${s}\n`);
};

/** `… e2e p50 12 ms p99 45 ms …` → seconds. */
const p99Of = (line: string): number | undefined => {
  const m = /e2e p50 \S+ (?:ms|s) p99 ([\d.]+) (ms|s)/.exec(line);
  if (!m) return undefined;
  return Number(m[1]) / (m[2] === 'ms' ? 1000 : 1);
};

async function demo(withVerify: boolean, n: number): Promise<number[]> {
  const db = `vdemo_${process.pid}_${n}`;
  const env = { ...process.env, CDC_DEMO_DB: db, CDC_DEMO_CLICKHOUSE_HTTP_PORT: String(18_700 + (n % 90)) };
  const child = spawn(
    process.execPath,
    [
      'scripts/demo.ts',
      '--duration',
      String(DURATION),
      '--rate',
      '50',
      '--scale',
      '0.02',
      '--timeout',
      '180',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const windows: { at: number; p99: number }[] = [];
  let out = '';
  let verifier: ChildProcess | undefined;
  const onLine = (line: string) => {
    // The demo's live line every 5 s: `cdc demo 35 s | … | e2e p50 12 ms p99 45 ms`.
    const elapsed = /^cdc demo (\d+) s/.exec(line)?.[1];
    if (elapsed === undefined) return;
    const at = Number(elapsed);
    const p = p99Of(line);
    if (p !== undefined) windows.push({ at, p99: p });
    if (withVerify && !verifier && at >= 10) {
      verifier = spawn(
        process.execPath,
        [
          'services/cli/dist/main.js',
          'verify',
          '--continuous',
          '--interval',
          INTERVAL,
          '--metrics-port',
          '0',
          '--config',
          'infra/pipelines/demo.yaml',
        ],
        { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      verifier.stderr?.on('data', (d) => log(`  [verify] ${String(d).trim()}`));
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
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (verifier) {
    verifier.kill('SIGTERM');
    await sleep(500);
  }
  if (code !== 0) log(`demo ${db} exited ${code}:\n${out.slice(-2000)}`);
  return windows.filter((w) => w.at >= WARMUP && w.at <= DURATION).map((w) => w.p99);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};

const runs: { alone: number[]; withVerify: number[] }[] = [];
for (let i = 0; i < Number(values.pairs); i++) {
  log(`pair ${i + 1}: demo alone …`);
  const alone = await demo(false, 2 * i);
  log(`pair ${i + 1}: demo with cdc verify --continuous …`);
  const withVerify = await demo(true, 2 * i + 1);
  runs.push({ alone, withVerify });
}
const alone = runs.flatMap((r) => r.alone);
const withVerify = runs.flatMap((r) => r.withVerify);
const report = {
  windows: { alone: alone.length, withVerify: withVerify.length },
  p99MedianSeconds: { alone: median(alone), withVerify: median(withVerify) },
  p99MaxSeconds: { alone: Math.max(...alone), withVerify: Math.max(...withVerify) },
  ratioOfMedians: Number((median(withVerify) / median(alone)).toFixed(3)),
};
process.stdout.write(`${JSON.stringify(report, null, values.json ? 0 : 2)}\n`);

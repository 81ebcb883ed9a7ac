/**
 * Every benchmark in loadtests/, one after the other, each as a child process with `--json`:
 * prints one table and one JSON line per figure (its ratio to the reference measured in the same
 * run, and CPU seconds per 100k of each side). See README.md.
 *
 *   npm run bench                         # full sizes (about 30-40 minutes on 2 busy cores)
 *   npm run bench -- --quick              # small sizes, under 10 minutes
 *   npm run bench -- --only processor,end-to-end
 *
 * A benchmark that fails (exit code, time bound, missing or incomplete output) is named at the
 * end and makes the exit code 1; the others still run. Each benchmark's stderr and its whole
 * JSON result are kept in /tmp/cdc-bench-<time>/<name>.log and .json.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { localEndpoints } from '@cdc/local-stack';
import { type Bench, benches, type Figure, type Needs } from './run-benches.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    list: { type: 'boolean', default: false },
  },
});
const here = import.meta.dirname;
const repo = resolve(here, '..');
if (values.list) {
  for (const b of benches) process.stdout.write(`${b.name.padEnd(24)} ${b.what}\n`);
  process.exit(0);
}
const only = values.only?.split(',').map((s) => s.trim());
const unknown = only?.filter((n) => !benches.some((b) => b.name === n)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark(s): ${unknown.join(', ')}; known: ${benches.map((b) => b.name).join(', ')}\n`,
  );
  process.exit(2);
}
const selected = benches.filter((b) => !only || only.includes(b.name));
const mode = values.quick ? 'quick' : 'full';
const logDir = join('/tmp', `cdc-bench-${new Date().toISOString().replace(/[:.]/g, '-')}`);
mkdirSync(logDir, { recursive: true });
const say = (s: string) => process.stderr.write(`${s}\n`);

// ── What the benchmarks need ───────────────────────────────────────────────────────────────
const ep = localEndpoints();
const registryUrl = new URL(ep.registry.url);
const kafkaBroker = ep.kafka.brokers[0] as string;
const mongoUrl = new URL(ep.mongo.url.replace(/^mongodb:/, 'http:'));
const addresses: Record<Exclude<Needs, 'java'>, { host: string; port: number }> = {
  postgres: { host: ep.postgres.host, port: ep.postgres.port },
  kafka: { host: kafkaBroker.split(':')[0] as string, port: Number(kafkaBroker.split(':')[1]) },
  registry: { host: registryUrl.hostname, port: Number(registryUrl.port) },
  mongo: { host: mongoUrl.hostname, port: Number(mongoUrl.port) },
};

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect({ host, port, timeout: 2_000 });
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('timeout', () => {
      s.destroy();
      r(false);
    });
    s.once('error', () => r(false));
  });
}

const javaReady = (() => {
  let known: string | undefined | null = null;
  return () => {
    if (known !== null) return known;
    const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
    const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
    known =
      java.status !== 0
        ? 'java (JDK 17) is not on PATH'
        : mvn.status !== 0
          ? 'mvn (Maven) is not on PATH'
          : undefined;
    return known;
  };
})();

async function missing(b: Bench): Promise<string | undefined> {
  const down: string[] = [];
  for (const n of b.needs) {
    if (n === 'java') {
      const why = javaReady();
      if (why) return why;
      continue;
    }
    const a = addresses[n];
    if (!(await reachable(a.host, a.port))) down.push(`${n} (${a.host}:${a.port})`);
  }
  if (down.length > 0)
    return `the local stack is not answering: ${down.join(', ')}; start it with \`npm run stack -- up\``;
  return undefined;
}

// ── Running one ────────────────────────────────────────────────────────────────────────────
let current: ChildProcess | undefined;
const killGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // gone
  }
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    if (current) killGroup(current, 'SIGKILL');
    process.exit(130);
  });
}

interface Outcome {
  bench: string;
  seconds: number;
  figures: Figure[];
  failure?: string;
}

/** The benchmark's JSON result: the last `{`-line of its stdout from which the rest parses (a build may print before it). */
function parseResult(stdout: string): unknown {
  const lines = stdout.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i]?.startsWith('{')) continue;
    try {
      return JSON.parse(lines.slice(i).join('\n'));
    } catch {
      // not from here
    }
  }
  return undefined;
}

async function runOne(b: Bench): Promise<Outcome> {
  const started = performance.now();
  const seconds = () => Math.round((performance.now() - started) / 1000);
  const why = await missing(b);
  if (why) return { bench: b.name, seconds: 0, figures: [], failure: why };
  const args = [...b.args[mode], '--json'];
  const logFile = join(logDir, `${b.name}.log`);
  say(`▶ ${b.name}: node ${b.script} ${args.join(' ')}   (log: ${logFile}, bound ${b.timeoutS[mode]} s)`);
  const out = createWriteStream(logFile);
  // Its own process group: on its time bound the benchmark and everything it started are stopped.
  const child = spawn(process.execPath, [join(here, b.script), ...args], {
    cwd: repo,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  current = child;
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.pipe(out);
  let timedOut = false;
  const bound = setTimeout(() => {
    timedOut = true;
    killGroup(child, 'SIGTERM');
    setTimeout(() => killGroup(child, 'SIGKILL'), 15_000).unref();
  }, b.timeoutS[mode] * 1000);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(bound);
  killGroup(child, 'SIGKILL'); // anything it left behind
  current = undefined;
  const tail = () => {
    try {
      const lines = readFileSync(logFile, 'utf8').trim().split('\n');
      return lines
        .slice(-4)
        .map((l) => `    ${l.slice(0, 300)}`)
        .join('\n');
    } catch {
      return '';
    }
  };
  if (timedOut)
    return {
      bench: b.name,
      seconds: seconds(),
      figures: [],
      failure: `ran past its bound of ${b.timeoutS[mode]} s\n${tail()}`,
    };
  const result = parseResult(stdout);
  if (result !== undefined)
    writeFileSync(join(logDir, `${b.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  if (code !== 0)
    return {
      bench: b.name,
      seconds: seconds(),
      figures: result ? safeFigures(b, result) : [],
      failure: `exited with ${code}\n${tail()}`,
    };
  if (result === undefined)
    return { bench: b.name, seconds: seconds(), figures: [], failure: 'printed no JSON result' };
  try {
    const figures = b.figures(result);
    const problems = b.problems?.(result) ?? [];
    return {
      bench: b.name,
      seconds: seconds(),
      figures,
      ...(problems.length > 0 ? { failure: problems.join('; ') } : {}),
    };
  } catch (err) {
    return {
      bench: b.name,
      seconds: seconds(),
      figures: [],
      failure: `incomplete output: ${(err as Error).message}`,
    };
  }
}

function safeFigures(b: Bench, result: unknown): Figure[] {
  try {
    return b.figures(result);
  } catch {
    return [];
  }
}

// ── Report ─────────────────────────────────────────────────────────────────────────────────
const fmt = (n: number | undefined | null, digits = 0) =>
  n === undefined || n === null || Number.isNaN(n)
    ? '-'
    : n.toLocaleString('en', { maximumFractionDigits: digits });

function table(outcomes: Outcome[]): string {
  const rows = [
    ['benchmark', 'figure', 'value', 'reference', 'ratio', 'CPU s/100k', 'ref CPU s/100k'],
    ...outcomes.flatMap((o) =>
      o.figures.length === 0
        ? [[o.bench, o.failure ? 'FAILED' : '-', '-', '-', '-', '-', '-']]
        : o.figures.map((f) => [
            f.bench,
            f.figure,
            `${fmt(f.value, f.unit === 'ms' ? 0 : 0)} ${f.unit}`,
            `${f.reference}: ${fmt(f.referenceValue)}`,
            fmt(f.ratio, 3),
            fmt(f.cpuSecondsPer100k, 2),
            fmt(f.referenceCpuSecondsPer100k, 2),
          ]),
    ),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [
    line(rows[0]!),
    `|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

const t0 = performance.now();
const outcomes: Outcome[] = [];
say(`cdc benchmarks (${mode}): ${selected.map((b) => b.name).join(', ')}; logs in ${logDir}`);
for (const b of selected) {
  const o = await runOne(b);
  outcomes.push(o);
  say(o.failure ? `✗ ${b.name} failed after ${o.seconds} s: ${o.failure}` : `✓ ${b.name} in ${o.seconds} s`);
}
process.stdout.write(`\n${table(outcomes)}\n\n`);
for (const o of outcomes)
  for (const f of o.figures) process.stdout.write(`${JSON.stringify({ mode, ...f })}\n`);
const failed = outcomes.filter((o) => o.failure);
for (const o of failed)
  process.stdout.write(`${JSON.stringify({ mode, bench: o.bench, failed: o.failure?.split('\n')[0] })}\n`);
say(
  `\n${outcomes.length} benchmark(s) in ${Math.round((performance.now() - t0) / 1000)} s; logs in ${logDir}`,
);
if (failed.length > 0) {
  say(`FAILED: ${failed.map((o) => `${o.bench} (${o.failure?.split('\n')[0]})`).join('; ')}`);
  process.exit(1);
}

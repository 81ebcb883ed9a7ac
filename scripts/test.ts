/**
 * The project's test command (`npm test`), the same on a laptop and in CI:
 * start the local stack, build, lint, typecheck, run the unit tests, then the integration and
 * scenario tests against the real servers. Ends with one line `tests: N passed, N failed`.
 * The stack is left running for the next run; `npm run stack -- down` stops it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stripVTControlCharacters } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const reports = mkdtempSync(join(tmpdir(), 'cdc-test-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
const timings: string[] = [];
/** Each failed test and the start of its message, repeated at the end (a CI log is read from its tail). */
const failures: string[] = [];

function step(name: string, command: string, args: string[]): boolean {
  const t = Date.now();
  process.stderr.write(`\n=== ${name}: ${command} ${args.join(' ')}\n`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  const ok = r.status === 0;
  timings.push(`${ok ? 'ok  ' : 'FAIL'} ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  return ok;
}

interface VitestJson {
  testResults?: {
    name: string;
    assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[];
  }[];
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTestSuites: number;
  numFailedTestSuites: number;
}

function vitest(name: string, config: string): boolean {
  const out = join(reports, `${name}.json`);
  const ok = step(name, 'vitest', [
    'run',
    '--config',
    config,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${out}`,
  ]);
  if (existsSync(out)) {
    const r = JSON.parse(readFileSync(out, 'utf8')) as VitestJson;
    totals.passed += r.numPassedTests;
    totals.failed +=
      r.numFailedTests + (r.numFailedTestSuites > 0 && r.numFailedTests === 0 ? r.numFailedTestSuites : 0);
    totals.skipped += r.numPendingTests + r.numTodoTests;
    for (const file of r.testResults ?? [])
      for (const a of file.assertionResults ?? [])
        if (a.status === 'failed') {
          const message = stripVTControlCharacters(a.failureMessages?.[0] ?? '')
            .split('\n')
            .filter((l) => !/^\s+at .*(node_modules|node:|<anonymous>)/.test(l))
            .join('\n')
            .slice(0, 1200);
          failures.push(`FAILED ${file.name.replace(`${root}/`, '')} > ${a.fullName}\n  ${message}`);
        }
    if (r.numPassedTests === 0) {
      process.stderr.write(`${name}: no test ran\n`);
      return false;
    }
  } else {
    totals.failed += 1;
  }
  return ok;
}

const results = [
  step('stack up', 'node', ['infra/local/src/stack.ts', 'up']),
  step('build + typecheck', 'turbo', ['run', 'build', 'typecheck', '--output-logs=errors-only']),
  step('schemas check', 'npm', ['run', '-s', 'schemas', '--', 'check']),
  step('lint', 'biome', ['check', '.']),
  vitest('unit', 'vitest.config.ts'),
  vitest('integration', 'vitest.integration.config.ts'),
];

process.stderr.write(`\n${[...failures, ...timings].join('\n')}\n`);
process.stdout.write(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(results.every(Boolean) ? 0 : 1);

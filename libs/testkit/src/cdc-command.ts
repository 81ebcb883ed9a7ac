/**
 * The `cdc` command as a user runs it (`services/cli/dist/main.js`), on a scenario's pipeline
 * file and state directory, and the build of the services a scenario runs as processes.
 *
 *   const files = scenarioFiles('new-table');
 *   const cdc = cdcCommand(files);
 *   expect(buildPackages('services/cli', 'services/sink-clickhouse').status).toBe(0);
 *   const up = cdc('up');
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository's root. */
export const REPO_ROOT = resolve(import.meta.dirname, '../../..');

export interface CdcResult {
  status: number | null;
  /** stdout, a newline, stderr. */
  out: string;
}

export interface ScenarioFiles {
  /** A fresh temporary directory of the scenario's own. */
  dir: string;
  /** `<dir>/pipeline.yaml`. */
  config: string;
  /** `<dir>/state`: `cdc`'s state directory (pids, logs). */
  stateDir: string;
  /** Removes `dir`. */
  remove(): void;
}

/** A temporary directory `cdc-<name>-…` with the paths of the pipeline file and the state directory. */
export function scenarioFiles(name: string): ScenarioFiles {
  const dir = mkdtempSync(join(tmpdir(), `cdc-${name}-`));
  return {
    dir,
    config: join(dir, 'pipeline.yaml'),
    stateDir: join(dir, 'state'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface CdcOptions {
  config: string;
  /** Passed as `--state-dir` when given. */
  stateDir?: string;
  /** Default 150 s. */
  timeoutMs?: number;
}

function cdcArgs(args: string[], options: CdcOptions): string[] {
  return [
    'services/cli/dist/main.js',
    ...args,
    '--config',
    options.config,
    ...(options.stateDir === undefined ? [] : ['--state-dir', options.stateDir]),
  ];
}

/** `cdc <args> --config … [--state-dir …]`, waited for: its status and output. */
export function cdcCommand(options: CdcOptions): (...args: string[]) => CdcResult {
  return (...args) => {
    const r = spawnSync(process.execPath, cdcArgs(args, options), {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 150_000,
    });
    return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
  };
}

/**
 * The same without blocking this process: for a test whose own child processes write their
 * logs into pipes this process must keep reading (a full pipe stops them).
 */
export function cdcCommandAsync(options: CdcOptions): (...args: string[]) => Promise<CdcResult> {
  return (...args) =>
    new Promise((done) => {
      execFile(
        process.execPath,
        cdcArgs(args, options),
        {
          cwd: REPO_ROOT,
          encoding: 'utf8',
          timeout: options.timeoutMs ?? 150_000,
          maxBuffer: 16 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          const code = err ? ((err as { code?: unknown }).code ?? 1) : 0;
          done({ status: typeof code === 'number' ? code : 1, out: `${stdout}\n${stderr}` });
        },
      );
    });
}

/** `tsc -b` of these packages (paths from the repository's root): what a scenario runs from `dist`. */
export function buildPackages(...packages: string[]): CdcResult {
  const r = spawnSync('npx', ['tsc', '-b', ...packages], { cwd: REPO_ROOT, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

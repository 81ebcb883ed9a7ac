/**
 * Commands that other packages own: `cdc schemas …` runs the schemas CLI (`schemas/src/cli.ts`),
 * `cdc rebuild <table>` runs the sink's `rebuild` subcommand when the sink has one.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT, serviceEntry } from './services.ts';

function passthrough(args: string[]): Promise<number> {
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', cwd: process.cwd() });
    const fwd = (s: NodeJS.Signals) => () => child.kill(s);
    const onInt = fwd('SIGINT');
    const onTerm = fwd('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.on('exit', (code) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      done(code ?? 1);
    });
  });
}

export async function schemas(args: string[]): Promise<number> {
  const cli = resolve(REPO_ROOT, 'schemas/src/cli.ts');
  if (!existsSync(cli)) {
    process.stderr.write('cdc schemas: schemas/src/cli.ts is not in this checkout\n');
    return 2;
  }
  return passthrough([cli, ...args]);
}

/** Whether the sink's main knows a `rebuild` subcommand (it says so in its source). */
export function sinkHasRebuild(root = REPO_ROOT): boolean {
  const main = resolve(root, 'services/sink-clickhouse/src/main.ts');
  return existsSync(main) && /\brebuild\b/.test(readFileSync(main, 'utf8'));
}

export async function rebuild(table: string, config: string): Promise<number> {
  const entry = serviceEntry('sink-clickhouse');
  if (!sinkHasRebuild() || !existsSync(entry)) {
    process.stderr.write(
      `cdc rebuild: not available yet: services/sink-clickhouse has no \`rebuild\` subcommand in this checkout${existsSync(entry) ? '' : ' (and it is not built)'}.\n` +
        `  Until then: stop the sink, drop ${table}, ${table}_history and their views, and restart the sink with a new sink.groupId to replay the topic.\n`,
    );
    return 2;
  }
  return passthrough([entry, 'rebuild', table, '--config', resolve(config)]);
}

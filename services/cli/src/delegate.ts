/**
 * Commands that other packages own: `cdc schemas …` runs the schemas CLI (`@cdc/schemas`),
 * `cdc rebuild <table>` runs the sink's `rebuild` subcommand.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { availability, packageCommand } from '@cdc/operate';

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
  const cli = packageCommand('@cdc/schemas');
  if (!cli) {
    process.stderr.write('cdc schemas: the package @cdc/schemas is not installed: run `npm install`\n');
    return 2;
  }
  return passthrough([cli.bin, ...args]);
}

export async function rebuild(table: string, config: string): Promise<number> {
  const sink = availability('sink-clickhouse');
  if (!sink.available) {
    process.stderr.write(`cdc rebuild: ${sink.reason}\n`);
    return 2;
  }
  return passthrough([sink.entry, 'rebuild', table, '--config', resolve(config)]);
}

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { availability, isServiceName, SERVICES } from '@cdc/operate';

/**
 * `cdc run <service> --config FILE`: the service in the foreground with this terminal's
 * stdio. SIGINT and SIGTERM are passed on (the service finishes its transaction and closes);
 * the exit code is the service's (128 + signal number when a signal ended it).
 */
export async function runService(
  name: string,
  config: string,
  extra: readonly string[] = [],
): Promise<number> {
  if (!isServiceName(name)) {
    process.stderr.write(`cdc run: no service "${name}"; services: ${SERVICES.join(', ')}\n`);
    return 2;
  }
  const a = availability(name);
  if (!a.available) {
    const ready = SERVICES.map((s) => availability(s))
      .filter((x) => x.available)
      .map((x) => x.name);
    process.stderr.write(`cdc run: ${a.reason}\n  runnable now: ${ready.join(', ') || 'none'}\n`);
    return 2;
  }
  const child = spawn(process.execPath, [a.entry, '--config', resolve(config), ...extra], {
    stdio: 'inherit',
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return new Promise((done) => {
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      done(code ?? 128 + signalNumber(signal));
    });
    child.on('error', (err) => {
      process.stderr.write(`cdc run: could not start ${name}: ${err.message}\n`);
      done(1);
    });
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === 'SIGINT' ? 2 : signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 1;
}

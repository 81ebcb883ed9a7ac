/**
 * A sink restarted while its predecessor still holds the embedded engine's directory (the
 * engine's `Cannot lock file …/status`): opening waits, logging each retry, and opens once the
 * other process is gone (here: killed with SIGKILL), instead of failing the start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedTransport } from '@cdc/clickhouse';
import type { Logger } from '@cdc/core';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'cdc-embedded-lock-'));
const path = join(dir, 'clickhouse');
let holder: ChildProcess | undefined;

afterAll(() => {
  holder?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Another process that opens `path` and keeps it open until killed. */
async function holdLock(): Promise<ChildProcess> {
  const script = `
    const { Session } = require('chdb');
    const s = new Session(${JSON.stringify(path)});
    s.queryAsync('SELECT 1', { format: 'TabSeparated' }).then(() => console.log('open'));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script], {
    cwd: import.meta.dirname,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('open') && resolve());
    child.on('exit', (code) => reject(new Error(`the lock holder exited with ${code}`)));
  });
  return child;
}

describe('the embedded directory held by another process', () => {
  it('is waited for, with logged retries, and opened once the holder is killed', async () => {
    holder = await holdLock();
    const warnings: { message: string; fields: Record<string, unknown> }[] = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn(message: string, fields: Record<string, unknown> = {}) {
        warnings.push({ message, fields });
      },
      child() {
        return logger;
      },
    } as unknown as Logger;
    let opened: EmbeddedTransport | undefined;
    const opening = EmbeddedTransport.open(path, { logger, maxDelayMs: 500 }).then((t) => {
      opened = t;
      return t;
    });
    await new Promise((r) => setTimeout(r, 2_500));
    expect(opened).toBeUndefined();
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings[0]!.message).toBe('the embedded ClickHouse directory is locked; retrying');
    expect(String((warnings[0]!.fields.err as Error).message)).toMatch(
      /another process holds its lock .* retrying with backoff until it is free/,
    );
    holder.kill('SIGKILL');
    const t = await opening;
    expect(await t.query<{ x: number }>('SELECT 1 AS x')).toEqual([{ x: 1 }]);
    await t.close();
  }, 30_000);
});

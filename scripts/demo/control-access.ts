/**
 * The demo's access to the control service: a viewer and an operator token made for each run,
 * kept in a file only its owner reads (never printed: tokens stay out of logs and terminals),
 * their hashes passed to the pipeline file (`CDC_DEMO_VIEWER_SHA256`, `CDC_DEMO_OPERATOR_SHA256`),
 * and the console's URL once the service listens.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DemoTokens {
  viewer: string;
  operator: string;
}

const sha256 = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');

/** New tokens in `<stateDir>/control-tokens.json` (mode 0600); the environment that passes their hashes. */
export function makeDemoTokens(stateDir: string): { file: string; env: Record<string, string> } {
  const tokens: DemoTokens = {
    viewer: randomBytes(24).toString('base64url'),
    operator: randomBytes(24).toString('base64url'),
  };
  const file = resolve(stateDir, 'control-tokens.json');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
  return {
    file,
    env: { CDC_DEMO_VIEWER_SHA256: sha256(tokens.viewer), CDC_DEMO_OPERATOR_SHA256: sha256(tokens.operator) },
  };
}

export function readDemoTokens(stateDir: string): DemoTokens {
  return JSON.parse(readFileSync(resolve(stateDir, 'control-tokens.json'), 'utf8')) as DemoTokens;
}

/** The console's URL (written by the control service into `<stateDir>/run/control.url`), waiting up to `timeoutMs`. */
export async function waitControlUrl(stateDir: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const url = readFileSync(resolve(stateDir, 'run', 'control.url'), 'utf8').trim();
      if (url) return url;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) return undefined;
    await sleep(250);
  }
}

/**
 * `cdc table pause|resume|resync <source> <table>`: the CLI's table actions go through the
 * control service's API, as the console's do, so they are checked against the token's role and
 * audited the same way. The token comes from `CDC_CONTROL_TOKEN` (never a flag: it would show in
 * `ps` and the shell's history); the URL from `CDC_CONTROL_URL`, else from the state directory
 * of `cdc up` (the control service writes it there once it listens).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { StateDir } from '@cdc/operate';

export const TABLE_ACTIONS = ['pause', 'resume', 'resync'] as const;
export type TableAction = (typeof TABLE_ACTIONS)[number];

/** The control service's URL, or an error naming how to give it. */
export function controlUrl(state: StateDir, env: NodeJS.ProcessEnv): string {
  if (env.CDC_CONTROL_URL) return env.CDC_CONTROL_URL;
  try {
    const url = readFileSync(resolve(state.runDir, 'control.url'), 'utf8').trim();
    if (url) return url;
  } catch {
    // below
  }
  throw new Error(
    `no control service found in ${state.dir} (is it in the pipeline file's control.tokens, and \`cdc up\` running?); or set CDC_CONTROL_URL`,
  );
}

/** Asks the control service for a table action; resolves with its one-line answer. */
export async function tableAction(
  action: TableAction,
  source: string,
  table: string,
  state: StateDir,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const token = env.CDC_CONTROL_TOKEN;
  if (!token)
    throw new Error('set CDC_CONTROL_TOKEN to an operator token of the pipeline file (control.tokens)');
  const url = new URL(
    `/api/tables/${encodeURIComponent(source)}/${encodeURIComponent(table)}/${action}`,
    controlUrl(state, env),
  );
  const r = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const body = (await r.json().catch(() => ({}))) as { error?: string; signal?: { id: string } };
  if (!r.ok) throw new Error(`the control service refused (${r.status}): ${body.error ?? r.statusText}`);
  return `${action} of ${source} ${table} sent (signal ${body.signal?.id}); the capture acts on it at that point of its stream`;
}

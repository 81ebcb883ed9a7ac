/**
 * The schemas CLI against the local registry, as a user runs it: register the checked-in
 * schemas (under a unique subject prefix), check an edited copy, and see `check` fail with the
 * subject, the field and the rule of an incompatible edit.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { localEndpoints } from '@cdc/local-stack';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const url = localEndpoints().registry.url;
const prefix = `it.schemas.${randomUUID().slice(0, 8)}.`;
const dir = mkdtempSync(join(tmpdir(), 'cdc-schemas-'));
cpSync(resolve(root, 'schemas'), dir, {
  recursive: true,
  filter: (src) => !/\/(src|test|node_modules)$/.test(src),
});

function cli(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ['schemas/src/cli.ts', ...args, '--registry', url, '--subject-prefix', prefix, '--dir', dir],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function editCartSessions(edit: (schema: { fields: object[] }) => void) {
  const path = join(dir, 'cart-sessions.avsc');
  const schema = JSON.parse(readFileSync(path, 'utf8'));
  edit(schema);
  writeFileSync(path, JSON.stringify(schema, null, 2));
}

async function confluent(method: string, path: string): Promise<unknown> {
  const res = await fetch(`${url}${path}`, { method });
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

afterAll(async () => {
  const subjects = (await confluent('GET', '/subjects')) as string[];
  for (const s of subjects.filter((x) => x.startsWith(prefix))) {
    await confluent('DELETE', `/subjects/${encodeURIComponent(s)}`);
    await confluent('DELETE', `/subjects/${encodeURIComponent(s)}?permanent=true`);
  }
  expect(((await confluent('GET', '/subjects')) as string[]).filter((x) => x.startsWith(prefix))).toEqual([]);
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run schemas', () => {
  const CART = `${prefix}aggregates.cart_sessions-value`;

  it('check passes for subjects that do not exist yet', () => {
    const r = cli('check');
    expect(r.stderr).toContain('all compatible');
    expect(r.stdout).toContain(`ok  ${CART}: new subject, not registered yet`);
    expect(r.code).toBe(0);
  });

  it('register registers every schema, and a second run changes nothing', () => {
    const first = cli('register');
    expect(first.code).toBe(0);
    expect(first.stdout.match(/^registered {2}/gm)).toHaveLength(5);
    const second = cli('register');
    expect(second.code).toBe(0);
    expect(second.stdout.match(/^unchanged {3}/gm)).toHaveLength(5);
    const list = cli('list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(
        `^${CART.replaceAll('.', '\\.')} {2}versions 1 {2}latest id \\d+ {2}\\(cart-sessions\\.avsc\\)$`,
        'm',
      ),
    );
  });

  it('check accepts a compatible edit (a nullable field with a default)', () => {
    editCartSessions((s) => s.fields.push({ name: 'device', type: ['null', 'string'], default: null }));
    const r = cli('check');
    expect(r.stdout).toContain(`ok  ${CART}: compatible with version 1, would become a new version`);
    expect(r.code).toBe(0);
  });

  it('check fails on an incompatible edit, naming the subject, the field and the rule', () => {
    editCartSessions((s) => s.fields.push({ name: 'channel', type: 'string' }));
    const r = cli('check');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `incompatible ${CART} (cart-sessions.avsc): subject ${CART} (BACKWARD) rejects the new schema: field channel: field added without default (against version 1)`,
    );
    expect(r.stderr).toContain('schemas: 1 of 5 incompatible');
    // Nothing was registered by the check.
    expect(cli('list').stdout).toMatch(new RegExp(`^${CART.replaceAll('.', '\\.')} {2}versions 1 `, 'm'));
  });

  it('register refuses the incompatible edit too, and exits non-zero', () => {
    const r = cli('register');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`field channel: field added without default`);
  });

  it('says how to use it when the command is wrong', () => {
    const r = cli('publish');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: npm run schemas -- register | check | list');
  });
});

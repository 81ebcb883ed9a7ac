/**
 * Hostile pipeline files, run the way a user runs them: a typo'd key (in the file and in a
 * `CDC__…` override), a wrong PostgreSQL password and a wrong MongoDB password under `cdc up`
 * (the capture ends naming the key to fix and the supervisor does not restart it), an embedded
 * ClickHouse path that is a file or cannot be created, and a registry that is down. Each bad
 * file is a copy of the hostile harness's good one with one thing changed; the good pipeline
 * runs at the end and the ordinary table flows.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hostile, openHostile, ROOT } from './harness.ts';

let h: Hostile;
let good: string;
const dir = mkdtempSync(join(tmpdir(), 'cdc-hostile-config-'));
let n = 0;

/** A copy of the good pipeline file with `edit` applied. */
function variant(edit: (text: string) => string): string {
  const text = edit(good);
  expect(text).not.toBe(good);
  const f = join(dir, `pipeline-${++n}.yaml`);
  writeFileSync(f, text);
  return f;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}, timeout = 120_000) {
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout,
    env: { ...process.env, ...env },
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const service = (name: string, config: string, env: NodeJS.ProcessEnv = {}, timeout?: number) =>
  run([`services/${name}/dist/main.js`, '--config', config], env, timeout);

beforeAll(async () => {
  h = await openHostile('config');
  good = readFileSync(h.config, 'utf8');
}, 120_000);

afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('strict pipeline file', () => {
  it('a typo deep in the sink section stops cdc up before anything starts, naming the key and the fix', () => {
    const f = variant((t) => t.replace('batch: { maxWaitMs: 200 }', 'bacth: { maxWaitMs: 200 }'));
    const stateDir = join(dir, 'state-typo');
    const r = run(['services/cli/dist/main.js', 'up', '--config', f, '--state-dir', stateDir]);
    expect(r.status, r.out).not.toBe(0);
    expect(r.out).toContain('clickhouse.sink.bacth: unknown key; did you mean batch?');
    expect(r.out).not.toMatch(/: started/);
  });

  it('a typo at the top level and in a source, each named by its full path', () => {
    const f = variant((t) =>
      t.replace('registry:\n', 'registry:\n  ur1: x\n').replace('publication:', 'publicaton:'),
    );
    const r = service('capture-postgres', f);
    expect(r.status, r.out).toBe(2);
    expect(r.out).toContain('registry.ur1: unknown key; did you mean url?');
    expect(r.out).toContain('sources.postgres.0.publicaton: unknown key; did you mean publication?');
  });

  it('a typo in a CDC__ override names the variable', () => {
    const r = service('sink-clickhouse', h.config, { CDC__KAFKA__CLIENTIDD: 'x' });
    expect(r.status, r.out).toBe(2);
    expect(r.out).toContain(
      'kafka.clientidd: unknown key; did you mean clientId? (set by CDC__KAFKA__CLIENTIDD)',
    );
  });
});

describe('authentication failures end the capture with the key to fix', () => {
  it('a wrong PostgreSQL password: exit 78 naming sources.postgres[0].connection.password, not restarted by cdc up', async () => {
    const f = variant((t) => t.replace('user: cdc, password: cdc', 'user: cdc, password: wrong'));
    const direct = service('capture-postgres', f, {}, 90_000);
    expect(direct.status, direct.out).toBe(78);
    expect(direct.out).toContain('fix sources.postgres[0].connection.password');
    expect(direct.out).toMatch(/password authentication failed/);

    const stateDir = join(dir, 'state-pg');
    const stateFile = join(stateDir, 'state.json');
    try {
      const up = run(
        ['services/cli/dist/main.js', 'up', '--config', f, '--state-dir', stateDir],
        {},
        200_000,
      );
      // `cdc up` reports a service that exited within its first seconds (status 1), else it started.
      if (up.status === 1) {
        expect(up.out).toMatch(
          /capture-postgres: exited right after starting \(code 78; .*does not restart it/,
        );
        expect(up.out).toContain('fix sources.postgres[0].connection.password');
      } else expect(up.status, up.out).toBe(0);
      // The capture exits once; after several restart delays it is still not started again.
      let st: { services: Record<string, { exits?: { code: number | null }[]; restarts?: number }> } = {
        services: {},
      };
      for (let i = 0; i < 60; i++) {
        st = JSON.parse(readFileSync(stateFile, 'utf8'));
        if ((st.services['capture-postgres']?.exits?.length ?? 0) > 0) break;
        await sleep(1_000);
      }
      await sleep(8_000);
      st = JSON.parse(readFileSync(stateFile, 'utf8'));
      const pgState = st.services['capture-postgres'];
      expect(pgState?.exits?.map((e) => e.code)).toEqual([78]);
      expect(pgState?.restarts ?? 0).toBe(0);
      const log = readFileSync(join(stateDir, 'logs', 'capture-postgres.log'), 'utf8');
      expect(log).toContain('fix sources.postgres[0].connection.password');
      const status = run(['services/cli/dist/main.js', 'status', '--config', f, '--state-dir', stateDir]);
      expect(status.out).toMatch(/capture-postgres/);
    } finally {
      run(['services/cli/dist/main.js', 'down', '--config', f, '--state-dir', stateDir]);
    }
  }, 240_000);

  it('a wrong MongoDB password (the local server enforces authentication): exit 78 naming sources.mongo[0].uri', () => {
    const f = variant((t) => t.replace(/uri: "mongodb:\/\/([^"]*)"/, 'uri: "mongodb://nobody:wrong@$1"'));
    const r = service('capture-mongo', f, {}, 90_000);
    expect(r.status, r.out).toBe(78);
    expect(r.out).toContain('fix the user name or password in sources.mongo[0].uri');
    expect(r.out).toMatch(/[Aa]uthentication failed/);
  }, 120_000);
});

describe('the embedded ClickHouse path', () => {
  it('a path that is a file: a clear error at once naming the path and the fix, no EEXIST stack', () => {
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, 'x');
    const f = variant((t) => t.replace(/embedded:\n {4}path: .*/, `embedded:\n    path: ${file}`));
    const t0 = Date.now();
    const r = service('sink-clickhouse', f, {}, 60_000);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(r.status, r.out).not.toBe(0);
    expect(r.out).toContain(`clickhouse.embedded.path ${file} is a file, not a directory`);
    expect(r.out).toContain('point clickhouse.embedded.path at a directory');
    expect(r.out).not.toMatch(/EEXIST: file already exists/);
  }, 90_000);

  it('a path that cannot be created or written: a clear error at once, no hang', () => {
    const path = '/proc/cdc-hostile/clickhouse';
    const f = variant((t) => t.replace(/embedded:\n {4}path: .*/, `embedded:\n    path: ${path}`));
    const t0 = Date.now();
    const r = service('sink-clickhouse', f, {}, 60_000);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(r.status, r.out).not.toBe(0);
    expect(r.out).toContain(`clickhouse.embedded.path ${path} cannot be created`);
    expect(r.out).toMatch(/choose another clickhouse\.embedded\.path/);
  }, 90_000);
});

describe('the registry down', () => {
  it('the hint names registry.url, the key in the pipeline file', async () => {
    const f = variant((t) => t.replace(/registry:\n {2}url: .*/, 'registry:\n  url: "http://127.0.0.1:9"'));
    // A new collection: its first change needs a schema registered.
    await h.mongo.collection('registry_down').insertOne({ _id: 1 as never, a: 1 });
    // The capture retries a registry that is down (retriable): it runs until the timeout kills it.
    const r = service('capture-mongo', f, {}, 40_000);
    expect(r.out).toMatch(/schema registry at http:\/\/127\.0\.0\.1:9.* is unavailable/);
    expect(r.out).toContain('(registry.url)');
    expect(r.out).not.toContain('schemaRegistry.url');
  }, 90_000);
});

describe('the good file', () => {
  it('still loads and the pipeline flows', async () => {
    h.up();
    await h.assertFlowing(180_000);
  }, 300_000);
});

/**
 * supervisor: the process `cdc up` leaves running restarts what exits and `cdc down` leaves
 * nothing behind. Two throwaway Node scripts stand in for the services (no pipeline, no
 * servers): "capture-postgres" serves /readyz on its telemetry port and starts a helper
 * process of its own; "processor" logs an error and exits 3 every time it starts. The
 * supervisor runs as a process of its own, as under `cdc up`, through the same core
 * (`superviseUntilSignalled`) as `cdc supervise`, with short backoff delays.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isAlive } from '../../src/process-control.ts';
import type { RestartPolicy } from '../../src/restart-policy.ts';
import { type StackState, StateDir } from '../../src/state-dir.ts';
import { down } from '../../src/supervisor.ts';

const root = resolve(import.meta.dirname, '../../../..');
const dir = mkdtempSync(join(tmpdir(), 'cdc-supervisor-'));
const state = new StateDir(join(dir, 'state'));
const seen = new Set<number>();
let supervisor: ChildProcess | undefined;

const SERVICE = `
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
const log = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
if (process.argv[2] === 'crash') {
  log({ level: 'info', msg: 'starting' });
  log({ level: 'error', msg: 'cannot start', err: { code: 'KAFKA_UNAVAILABLE', message: 'broker down' } });
  process.exit(3);
}
const helper = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
const body = JSON.stringify({ status: 'ready', pid: process.pid, helper: helper.pid });
const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
server.listen(Number(process.env.CDC__TELEMETRY__HTTP__PORT), '127.0.0.1', () => log({ level: 'info', msg: 'listening' }));
process.on('SIGTERM', () => { helper.kill(); server.close(); process.exit(0); });
`;

const url = (p: string) => pathToFileURL(resolve(root, p)).href;
const LAUNCHER = `
import { createJsonLogger } from '${url('libs/core/dist/index.js')}';
import { StateDir } from '${url('libs/operate/src/state-dir.ts')}';
import { superviseUntilSignalled } from '${url('libs/operate/src/supervise-loop.ts')}';
const [stateDir, services, policy] = process.argv.slice(2);
await superviseUntilSignalled({
  config: 'none (test)',
  services: JSON.parse(services),
  state: new StateDir(stateDir),
  logger: createJsonLogger({}, { service: 'cdc-supervisor' }),
  policy: JSON.parse(policy),
  readyTimeoutMs: 20_000,
  graceMs: 2_000,
});
`;

const policy: RestartPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 400,
  resetAfterMs: 60_000,
  crashLoopExits: 5,
  crashLoopWindowMs: 5 * 60_000,
  keepExits: 20,
};

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs / 1000} s: ${what}`);
    await sleep(100);
  }
}

const read = (): StackState => state.read() ?? { config: '', services: {} };

async function telemetry(port: number): Promise<{ pid: number; helper: number } | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) });
    return (await r.json()) as { pid: number; helper: number };
  } catch {
    return undefined;
  }
}

beforeAll(() => {
  const service = join(dir, 'service.mjs');
  writeFileSync(service, SERVICE);
  const launcher = join(dir, 'supervise-launcher.mjs');
  writeFileSync(launcher, LAUNCHER);
  const services = [
    { name: 'capture-postgres', entry: service, args: ['serve'] },
    { name: 'processor', entry: service, args: ['crash'] },
  ];
  const fd = openSync(join(dir, 'supervisor.log'), 'a');
  supervisor = spawn(
    process.execPath,
    [launcher, state.dir, JSON.stringify(services), JSON.stringify(policy)],
    { detached: true, stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  if (supervisor.pid) seen.add(supervisor.pid);
});

afterAll(() => {
  for (const pid of seen)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone, as it should be */
    }
  rmSync(dir, { recursive: true, force: true });
});

it('restarts a service killed with SIGKILL on the same telemetry port, and records the exit', async () => {
  const first = await until('capture-postgres serves its telemetry port', 8_000, async () => {
    const s = read().services['capture-postgres'];
    const t = s && s.pid > 0 ? await telemetry(s.telemetryPort) : undefined;
    return t && s ? { ...t, port: s.telemetryPort } : undefined;
  });
  seen.add(first.pid).add(first.helper);
  process.kill(first.pid, 'SIGKILL');

  const second = await until('a new capture-postgres on the same port', 8_000, async () => {
    const t = await telemetry(first.port);
    return t && t.pid !== first.pid ? t : undefined;
  });
  seen.add(second.pid).add(second.helper);
  const s = read().services['capture-postgres'];
  expect(s).toMatchObject({ pid: second.pid, telemetryPort: first.port, restarts: 1, crashLoop: false });
  expect(s?.exits).toHaveLength(1);
  expect(s?.exits[0]).toMatchObject({
    code: null,
    signal: 'SIGKILL',
    lastError: expect.stringContaining('listening'),
  });
  expect(existsSync(state.pidFile('capture-postgres'))).toBe(true);
  // What the killed incarnation had started in its process group went with it.
  await until('the killed incarnation its helper gone', 3_000, () => !isAlive(first.helper));
}, 22_000);

it('flags a service that exits right after every start as a crash loop, and keeps restarting it', async () => {
  const p = await until('processor in a crash loop', 12_000, () => {
    const s = read().services.processor;
    return s?.crashLoop ? s : undefined;
  });
  expect(p.exits.length).toBeGreaterThanOrEqual(5);
  expect(p.restarts).toBeGreaterThanOrEqual(4);
  for (const e of p.exits)
    expect(e).toMatchObject({
      code: 3,
      signal: null,
      lastError: 'cannot start: KAFKA_UNAVAILABLE: broker down',
    });
}, 14_000);

it('`down` stops the supervisor and every process it started', async () => {
  const before = read();
  const supervisorPid = before.supervisorPid as number;
  expect(supervisorPid).toBe(supervisor?.pid);
  const current = before.services['capture-postgres']?.pid ?? 0;
  if (current > 0) {
    const t = await telemetry(before.services['capture-postgres']?.telemetryPort ?? 0);
    if (t) seen.add(t.helper);
  }
  const lines: string[] = [];
  await down(state, (l) => lines.push(l), 2_000);

  expect(lines).toContain(`capture-postgres: stopped (pid ${current})`);
  expect(lines).toContain(`supervisor: stopped (pid ${supervisorPid})`);
  expect([...seen].filter((pid) => isAlive(pid))).toEqual([]);
  const after = read();
  expect(after.supervisorPid).toBeUndefined();
  expect(after.services['capture-postgres']?.pid).toBe(0);
  expect(after.services.processor?.pid).toBe(0);
  expect(readdirSync(state.runDir).filter((f) => f.endsWith('.pid'))).toEqual([]);
}, 18_000);

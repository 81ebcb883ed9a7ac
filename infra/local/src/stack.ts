/**
 * The local stack: `npm run stack -- up | down | status | logs [name]`.
 *
 *   up [--only a,b]        install what is missing, start what is not running, wait until healthy
 *   down [--reset]         stop what the stack started (by pid); --reset also wipes its data
 *   status [--json]        real health query per server; exit 0 only when every one answers
 *   logs [name] [--lines N]
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ensureAptPackages } from './apt.ts';
import { StackContext } from './context.ts';
import { PORTS } from './ports.ts';
import { isAlive, portFree, readPid, stopPid, waitFor } from './process.ts';
import type { Health, LocalServer } from './server.ts';
import { SERVERS } from './servers/index.ts';
import { ensureTools } from './tools.ts';

const USAGE = `usage: npm run stack -- <up|down|status|logs> [options]
  up [--only name,name]     install and start the local servers (idempotent)
  down [--reset] [--only …] stop what the stack started; --reset wipes the data (caches are kept)
  status [--json]           health of every server; exit 0 only when all answer
  logs [name] [--lines N]   the last lines of a server's log (all servers without a name)
servers: ${SERVERS.map((s) => s.name).join(', ')}`;

type Status = { name: string; ok: true; health: Health } | { name: string; ok: false; error: string };

function select(only: string | undefined): LocalServer[] {
  if (!only) return SERVERS;
  const names = only
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !SERVERS.some((s) => s.name === n));
  if (unknown.length > 0)
    throw new Error(
      `unknown server(s) ${unknown.join(', ')}; known: ${SERVERS.map((s) => s.name).join(', ')}`,
    );
  return SERVERS.filter((s) => names.includes(s.name));
}

async function probe(ctx: StackContext, s: LocalServer): Promise<Status> {
  try {
    return { name: s.name, ok: true, health: await s.health(ctx) };
  } catch (err) {
    return { name: s.name, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(`${d}/${command}`));
}

/**
 * Missing prerequisites are installed from Debian's packages when the runner is root (CI and
 * the development machines are); otherwise `up` stops with the fix for each.
 */
async function ensurePrerequisites(ctx: StackContext, servers: LocalServer[]): Promise<void> {
  const missing = servers.flatMap((s) =>
    (s.prerequisites ?? []).filter((p) => !onPath(p.command)).map((p) => ({ server: s.name, ...p })),
  );
  const installable = missing.filter((m) => m.aptPackage !== undefined);
  if (process.getuid?.() === 0 && installable.length > 0) {
    await ensureAptPackages(
      ctx,
      installable.map((m) => m.aptPackage!),
    );
  }
  const still = missing.filter((m) => !onPath(m.command));
  if (still.length > 0) {
    throw new Error(
      `missing prerequisites:\n  ${still.map((m) => `${m.server} needs \`${m.command}\`: ${m.fix}`).join('\n  ')}`,
    );
  }
}

async function up(ctx: StackContext, servers: LocalServer[]): Promise<void> {
  const t0 = Date.now();
  await ensurePrerequisites(ctx, servers);
  await ensureTools(ctx);
  const todo: LocalServer[] = [];
  for (const s of servers) {
    const pid = readPid(ctx.pidFile(s.name));
    if (pid !== undefined && isAlive(pid)) {
      const st = await probe(ctx, s);
      if (st.ok) {
        ctx.log(`${s.name}: already running (pid ${pid})`);
        continue;
      }
    }
    for (const p of s.ports) {
      const n = ctx.port(p);
      if (!(await portFree(n)) && !(pid !== undefined && isAlive(pid))) {
        throw new Error(
          `${s.name}: port 127.0.0.1:${n} is taken by another process. Stop it, or choose another port with ${PORTS[p].env}=<port>`,
        );
      }
    }
    todo.push(s);
  }
  await ensureAptPackages(
    ctx,
    todo.flatMap((s) => s.aptPackages ?? []),
  );
  // Install one at a time (they share the Maven cache), then start them all and wait in parallel.
  for (const s of todo) {
    const t = Date.now();
    await s.install(ctx);
    ctx.log(`${s.name}: installed (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  }
  await Promise.all(
    todo.map(async (s) => {
      const t = Date.now();
      const pid = readPid(ctx.pidFile(s.name));
      if (pid === undefined || !isAlive(pid)) await s.start(ctx);
      const started = readPid(ctx.pidFile(s.name));
      await waitFor(
        s.name,
        () => (s.ready ? s.ready(ctx) : s.health(ctx)),
        s.startTimeoutMs ?? 120_000,
        () => started !== undefined && !isAlive(started),
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}\n  see its log: ${ctx.logFile(s.name)}\n${tail(ctx.logFile(s.name), 15)}`,
        );
      });
      await s.afterStart?.(ctx);
      // Asked again, not once: a broker that answered a moment ago may miss one probe on a
      // loaded machine (its metadata came back empty once while its controller was behind).
      await waitFor(s.name, () => s.health(ctx), 60_000);
      ctx.log(`${s.name}: ready (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    }),
  );
  ctx.log(`stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function down(ctx: StackContext, servers: LocalServer[], reset: boolean): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      const stopped = await stopPid(ctx.pidFile(s.name), s.stopSignal ?? 'SIGTERM');
      ctx.log(`${s.name}: ${stopped ? 'stopped' : 'was not running'}`);
    }),
  );
  if (reset) {
    for (const s of servers) rmSync(`${ctx.dataDir}/${s.name}`, { recursive: true, force: true });
    ctx.log(`data wiped under ${ctx.dataDir}`);
  }
}

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return '  (no log)';
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .map((l) => `  | ${l}`)
    .join('\n');
}

async function status(ctx: StackContext, servers: LocalServer[], json: boolean): Promise<number> {
  const results = await Promise.all(servers.map((s) => probe(ctx, s)));
  if (json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  } else {
    const w = Math.max(...results.map((r) => r.name.length));
    for (const r of results) {
      const line = r.ok
        ? `up    ${r.health.version.padEnd(28)} ${r.health.connection}${r.health.detail ? `  (${r.health.detail})` : ''}`
        : `DOWN  ${r.error.split('\n')[0]}`;
      process.stdout.write(`${r.name.padEnd(w)}  ${line}\n`);
    }
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      only: { type: 'string' },
      reset: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      lines: { type: 'string', default: '100' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, name] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const ctx = new StackContext();
  switch (command) {
    case 'up':
      await up(ctx, select(values.only ?? name));
      return status(ctx, select(values.only ?? name), false);
    case 'down':
      await down(ctx, select(values.only ?? name), values.reset);
      return 0;
    case 'status':
      return status(ctx, select(values.only ?? name), values.json);
    case 'logs':
      for (const s of select(name))
        process.stdout.write(`== ${s.name} ==\n${tail(ctx.logFile(s.name), Number(values.lines))}\n`);
      return 0;
    default:
      process.stderr.write(`unknown command ${command}\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`stack: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

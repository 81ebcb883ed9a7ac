import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const script = resolve(import.meta.dirname, '../../src/stack.ts');
const scratch = mkdtempSync(join(tmpdir(), 'cdc-stack-cli-'));

function stack(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((ok) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      ok({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
    });
  });
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('npm run stack -- status', () => {
  it('answers with every server up, its version and connection, as JSON', () => {
    const r = stack(['status', '--json']);
    expect(r.code).toBe(0);
    const servers = JSON.parse(r.stdout) as {
      name: string;
      ok: boolean;
      health: { version: string; connection: string };
    }[];
    expect(servers.map((s) => s.name).sort()).toEqual([
      'clickhouse',
      'kafka',
      'mongo',
      'mongo-java',
      'postgres',
      'registry',
    ]);
    for (const s of servers) {
      expect(s.ok).toBe(true);
      expect(s.health.version).toMatch(/\d+\.\d+/);
      expect(s.health.connection).toContain('127.0.0.1');
    }
  });

  it('exits non-zero and says DOWN when a server does not answer', async () => {
    const { server, port } = await listen();
    await new Promise<void>((ok) => server.close(() => ok()));
    const r = stack(['status', '--only', 'clickhouse'], { CDC_STACK_CLICKHOUSE_HTTP_PORT: String(port) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^clickhouse\s+DOWN\s+\S/m);
  });
});

describe('npm run stack -- up', () => {
  it('refuses a port that another process holds, naming the variable that moves it', async () => {
    const { server, port } = await listen();
    try {
      const r = stack(['up', '--only', 'postgres'], {
        CDC_STACK_DIR: join(scratch, 'port'),
        CDC_STACK_POSTGRES_PORT: String(port),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`postgres: port 127.0.0.1:${port} is taken by another process`);
      expect(r.stderr).toContain('CDC_STACK_POSTGRES_PORT=<port>');
    } finally {
      server.close();
    }
  });

  it('names each missing prerequisite with its fix', () => {
    // A PATH with Node and dpkg-query but no JDK and no Maven.
    const bin = join(scratch, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/usr/bin/dpkg-query', join(bin, 'dpkg-query'));
    const r = stack(['up', '--only', 'kafka'], { CDC_STACK_DIR: join(scratch, 'prereq'), PATH: bin });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('missing prerequisites');
    expect(r.stderr).toContain('kafka needs `java`: install a JDK 17 or newer');
    expect(r.stderr).toContain('kafka needs `mvn`: install Maven');
  });

  it('rejects an unknown server name with the list of known ones', () => {
    const r = stack(['up', '--only', 'oracle']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'unknown server(s) oracle; known: postgres, kafka, registry, mongo, mongo-java, clickhouse',
    );
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTopic } from '@cdc/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { endpoints, localKafka, localRegistry, runId, waitFor } from '../helpers.ts';
import { prng, ShopScenario } from '../shop-scenario.ts';

const run = runId();
const kafka = localKafka(`it-proc-${run}`);
const registry = localRegistry();
const shop = new ShopScenario(run, kafka, registry);
let child: ChildProcess | undefined;
let dir = '';

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await shop.tearDown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

// The processor service as a user runs it, with `processing.threads: 2`: two stream threads in
// one process, each a member of the group with tasks of its own.
describe('two-stream-threads', () => {
  it('spreads the tasks over two threads of one process; queries reach both; the closed windows equal SQL; SIGTERM exits 0', async () => {
    const seed = Number(process.env.PROCESSOR_IT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    process.stderr.write(`two-stream-threads: seed ${seed}\n`);
    const random = prng(seed);
    dir = await mkdtemp(join(tmpdir(), 'processor-threads-'));
    await shop.setUp();
    const [queryPort, telemetryPort] = [await freePort(), await freePort()];
    const config = join(dir, 'pipeline.yaml');
    writeFileSync(
      config,
      toYaml({
        kafka: { brokers: endpoints.kafka.brokers, clientId: shop.applicationId },
        registry: { url: endpoints.registry.url },
        processing: {
          ...shop.section(),
          stateDir: join(dir, 'state'),
          threads: 2,
          http: { port: queryPort },
        },
        telemetry: { http: { port: telemetryPort } },
      }),
    );
    const log: string[] = [];
    child = spawn(process.execPath, [join(import.meta.dirname, '../../dist/main.js'), '--config', config], {
      env: { ...process.env, CDC_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => child?.on('exit', (code) => resolve(code)));

    // Ready once both threads run their tasks (`/readyz` names the threads).
    const ready = await waitFor(
      async () => {
        if (child?.exitCode !== null) throw new Error(`the processor exited:\n${log.join('')}`);
        const res = await fetch(`http://127.0.0.1:${telemetryPort}/readyz`).catch(() => undefined);
        const body = res?.ok ? await res.text() : '';
        return body.includes('on 2 thread(s)') ? body : undefined;
      },
      90_000,
      'both stream threads running',
    );
    expect(ready).toMatch(/running \d+ task\(s\) on 2 thread\(s\)/);

    await shop.randomChanges(300, random);
    const expected = await shop.reference();
    expect(expected.size).toBeGreaterThan(10);
    // The main thread answers every region, forwarding to the other thread for its partitions:
    // once the answers equal the SQL reference, every change has been aggregated.
    const answeredBy = new Set<string>();
    for (const region of shop.regions) {
      const want = new Map([...expected].filter(([k]) => k.startsWith(`${region}|`)));
      let last: { instance: string; got: Map<string, string> } | undefined;
      await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${queryPort}/state/revenue_by_region_1m?key=${region}`);
          if (res.status !== 200) return undefined;
          const body = (await res.json()) as { instance: string; windows: Record<string, unknown>[] };
          last = {
            instance: body.instance,
            got: new Map(
              body.windows.map((w) => [
                `${region}|${w.windowStartMs}`,
                `${w.revenue}/${w.orderCount}/${w.largest}`,
              ]),
            ),
          };
          return JSON.stringify([...last.got].sort()) === JSON.stringify([...want].sort()) ? last : undefined;
        },
        60_000,
        `the query for ${region} to reach the reference`,
      ).catch(() => undefined);
      expect(last?.got).toEqual(want);
      answeredBy.add(last?.instance as string);
    }
    expect(answeredBy.size, 'regions answered by both threads').toBe(2);

    await shop.closeWindows();
    let got = new Map<string, string>();
    await waitFor(
      async () => {
        got = await shop.decodeOutputs(await readTopic(kafka, shop.topics.revenue, 3_000));
        return got.size >= expected.size ? got : undefined;
      },
      60_000,
      'the closed windows',
    ).catch(() => got);
    expect(got).toEqual(expected);

    child.kill('SIGTERM');
    expect(await exited, log.join('')).toBe(0);
  });
});

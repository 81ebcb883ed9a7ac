import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTopic } from '@cdc/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { endpoints, localKafka, localRegistry, runId, waitFor } from '../helpers.ts';
import { prng, ShopScenario } from '../shop-scenario.ts';

const run = runId();
const kafka = localKafka(`it-proc-${run}`);
const registry = localRegistry();
const shop = new ShopScenario(run, kafka, registry);
const children: ChildProcess[] = [];
let stateDir = '';

interface Instance {
  child: ChildProcess;
  url: string;
  instance: string;
}

function start(name: string): Promise<Instance> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'run-processor.ts')], {
    env: {
      ...process.env,
      BROKERS: endpoints.kafka.brokers[0],
      REGISTRY: endpoints.registry.url,
      PROCESSING: JSON.stringify(shop.section()),
      STATE_DIR: join(stateDir, name),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance ${name} did not start in 30 s`)), 30_000);
    child.stdout?.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve({ child, ...(JSON.parse(d.toString()) as { url: string; instance: string }) });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance ${name} exited with ${code}`));
    });
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (process.env.PROCESSOR_IT_KEEP !== '1') await shop.tearDown();
  else process.stderr.write(`kept ${shop.applicationId}\n`);
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

// The killed instance leaves transactions open on the repartition topic, the changelogs and the
// output; its tasks' successors abort them by initializing the same transactional ids on
// assignment. PROCESSOR_IT_KEEP=1 keeps the topics for inspection.
describe('kill-9-two-instances', () => {
  it('two instances share the work, one is killed with kill -9 mid-run, the closed windows still equal SQL; queries reach the owner', async () => {
    const seed = Number(process.env.PROCESSOR_IT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    process.stderr.write(`kill-9-two-instances: seed ${seed}\n`);
    const random = prng(seed);
    stateDir = await mkdtemp(join(tmpdir(), 'processor-kill9-'));
    await shop.setUp();
    const a = await start('a');
    const b = await start('b');
    await shop.randomChanges(150, random);
    await new Promise((r) => setTimeout(r, 1_000 + random() * 1_500));
    await kill9(a.child); // mid-run: its open transactions are aborted when its tasks move
    await shop.randomChanges(150, random);
    const c = await start('c'); // a replacement joins; the group rebalances again
    await shop.randomChanges(150, random);
    // Interactive queries at b answer every region, forwarding to c for the partitions c holds;
    // once they equal the SQL reference, every change has been aggregated.
    const expected = await shop.reference();
    const answeredBy = new Set<string>();
    const query = async (region: string) => {
      const res = await fetch(`${b.url}/state/revenue_by_region_1m?key=${region}`);
      if (res.status !== 200) return undefined;
      const body = (await res.json()) as { instance: string; windows: Record<string, unknown>[] };
      const got = new Map(
        body.windows.map((w) => [
          `${region}|${w.windowStartMs}`,
          `${w.revenue}/${w.orderCount}/${w.largest}`,
        ]),
      );
      return { instance: body.instance, got };
    };
    const want = (region: string) => new Map([...expected].filter(([k]) => k.startsWith(`${region}|`)));
    for (const region of shop.regions) {
      let last: Awaited<ReturnType<typeof query>>;
      await waitFor(
        async () => {
          last = await query(region);
          return last && JSON.stringify([...last.got].sort()) === JSON.stringify([...want(region)].sort())
            ? last
            : undefined;
        },
        Number(process.env.PROCESSOR_IT_QUERY_WAIT_MS ?? 60_000),
        `the query for ${region} to reach the reference`,
      ).catch(() => undefined);
      expect(last?.got).toEqual(want(region));
      answeredBy.add(last?.instance as string);
    }
    expect(answeredBy).toEqual(new Set([b.instance, c.instance]));

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
  });
});

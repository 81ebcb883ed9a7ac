import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTopic } from '@cdc/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessorApp } from '../../src/app.ts';
import { localKafka, localRegistry, runId, testLogger, waitFor } from '../helpers.ts';
import { prng, ShopScenario } from '../shop-scenario.ts';

const run = runId();
const kafka = localKafka(`it-proc-${run}`);
const registry = localRegistry();
const shop = new ShopScenario(run, kafka, registry);
let app: ProcessorApp | undefined;
let stateDir = '';

afterAll(async () => {
  await app?.close().catch(() => {});
  await shop.tearDown();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('closed-windows-equal-sql', () => {
  it('revenue per region per minute, after random inserts, moving updates and deletes, equals a GROUP BY on PostgreSQL', async () => {
    const seed = Number(process.env.PROCESSOR_IT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    process.stderr.write(`closed-windows-equal-sql: seed ${seed} (PROCESSOR_IT_SEED replays it)\n`);
    const random = prng(seed);
    stateDir = await mkdtemp(join(tmpdir(), 'processor-it-'));
    await shop.setUp();
    app = new ProcessorApp({ section: shop.section(), kafka, registry, logger: testLogger(), stateDir });
    await app.start();
    // the output schema was registered on start
    expect(await registry.version(`${shop.topics.revenue}-value`, 'latest')).toBeDefined();

    await shop.randomChanges(400, random);
    // Close the windows only once everything is aggregated: a closing record that overtakes
    // changes from the other partition by more than the grace would make them late.
    await waitFor(
      () => shop.drainedBy(app as ProcessorApp).then((d) => d || undefined),
      60_000,
      'processing',
    );
    const expected = await shop.reference();
    expect(expected.size).toBeGreaterThan(10);
    // Interactive queries answer the open windows from the store: the same numbers.
    for (const region of shop.regions) {
      const res = await fetch(`${app.queryUrl}/state/revenue_by_region_1m?key=${region}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { windows: Record<string, unknown>[] };
      const answered = new Map(
        body.windows.map((w) => [
          `${region}|${w.windowStartMs}`,
          `${w.revenue}/${w.orderCount}/${w.largest}`,
        ]),
      );
      expect(answered).toEqual(new Map([...expected].filter(([k]) => k.startsWith(`${region}|`))));
    }
    expect((await fetch(`${app.queryUrl}/state/revenue_by_region_1m`)).status).toBe(400);
    await shop.closeWindows();

    let got = new Map<string, string>();
    await waitFor(
      async () => {
        if (app?.state === 'failed') throw app.error;
        got = await shop.decodeOutputs(await readTopic(kafka, shop.topics.revenue, 3_000));
        return got.size >= expected.size ? got : undefined;
      },
      90_000,
      'the closed windows',
    ).catch((err: unknown) => {
      process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
      return got;
    });
    expect(got).toEqual(expected);
  });
});

/**
 * A transaction that fails takes only its own work with it. Here the instance's producer is
 * fenced while records wait to be processed: what a frozen or CPU-starved instance meets when a
 * transaction outlives its timeout, and what a group that moves on does to the transaction on
 * its way. The stores' writes reach LevelDB only once their transaction has committed, so every
 * task keeps its stores under a checkpoint, restores none of its changelog when it opens again
 * (before, each restored the whole of it), redoes the failed work from the committed offsets,
 * and the counts stay exact: nothing of the failed transaction was counted twice.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createJsonLogger } from '@cdc/core';
import { TransactionalProducer } from '@cdc/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.ts';
import { RebalanceScenario } from './rebalance-harness.ts';
import { expectedCounts, lastCounts } from './windowed-count-topology.ts';

const scenario = new RebalanceScenario('failed-tx');

type Line = {
  msg: string;
  task?: string;
  mode?: string;
  checkpoint?: boolean;
  restoredFrom?: Record<string, number[]>;
};

afterAll(() => scenario.remove());

describe('failed-transaction-keeps-the-state', () => {
  it('keeps every store when a transaction fails, restores none of the changelog again, and the counts stay exact', async () => {
    const { changelog } = scenario;
    await scenario.createTopics();
    const lines: Line[] = [];
    const logger = createJsonLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line) as Line) });
    const { app, stateDir } = await scenario.instance({ logger });
    await scenario.send(400);
    await scenario.outputsReachSent();
    await waitFor(() => app.openTasks.length === 4, 20_000, 'the instance to run all four tasks');
    const tasks = [...app.openTasks];

    // Another holder of the instance's transactional id fences its producer.
    const processId = (await readFile(join(stateDir, scenario.appId, '.process-id'), 'utf8')).trim();
    const fencer = await TransactionalProducer.connect(scenario.kafka, {
      transactionalId: `${scenario.appId}-${processId}`,
      logger,
    });
    await fencer.disconnect();
    const fencedAt = lines.length;
    const restoredBefore = app.metrics.restored;

    // The next transaction, with these records' counts and changelog writes, fails.
    await scenario.send(400);
    const out = await scenario.outputsReachSent();
    await waitFor(() => app.openTasks.length === 4, 30_000, 'every task to run again');
    const after = lines.slice(fencedAt);
    expect(after.some((l) => l.msg.includes('producer was fenced'))).toBe(true);
    const closed = after.filter((l) => l.msg === 'task closed');
    expect(closed.map((l) => l.task).sort()).toEqual(tasks.sort());
    for (const l of closed) expect(l).toMatchObject({ mode: 'lost', checkpoint: true });
    const reopened = after.filter((l) => l.msg === 'task ready');
    expect(reopened).toHaveLength(4);
    for (const l of reopened) expect(l.restoredFrom?.[changelog]?.[0]).toBeGreaterThan(0); // not from scratch
    expect(app.metrics.restored - restoredBefore).toBe(0);

    expect(out).toHaveLength(scenario.sent.length);
    expect(lastCounts(out)).toEqual(expectedCounts(scenario.sent));
    expect(app.state).toBe('running');
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.ts';
import { RebalanceScenario } from './rebalance-harness.ts';
import { expectedCounts, lastCounts } from './windowed-count-topology.ts';

const scenario = new RebalanceScenario('rebalance');

afterAll(() => scenario.remove());

describe('rebalance-mid-window', () => {
  it('moves window state between two instances as they join and leave, and the counts stay exact', async () => {
    await scenario.createTopics();
    const { app: a } = await scenario.instance();
    await scenario.send(200);
    await scenario.outputsReachSent();
    await waitFor(() => a.assignedTasks.length === 4, 20_000, 'instance A to own all four tasks');

    const { app: b } = await scenario.instance(); // joins mid-window: half the tasks move to B, which restores them
    await waitFor(() => a.assignedTasks.length < 4, 30_000, 'the rebalance to take tasks away from A');
    await scenario.send(200);
    await scenario.outputsReachSent();
    expect(b.assignedTasks.length).toBeGreaterThan(0);
    expect(b.openTasks).toEqual(b.assignedTasks); // B restored and ran the tasks it took over
    expect(a.assignedTasks.length + b.assignedTasks.length).toBe(4);

    await a.close(); // leaves: B takes every task back
    await scenario.send(200);
    const all = await scenario.outputsReachSent();
    await waitFor(() => b.assignedTasks.length === 4, 30_000, 'instance B to own all four tasks');
    expect(all).toHaveLength(scenario.sent.length);
    expect(lastCounts(all)).toEqual(expectedCounts(scenario.sent));
    expect(b.state).toBe('running');
  });
});

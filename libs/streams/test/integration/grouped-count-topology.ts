import { Serdes, StreamsBuilder, TimeWindows, type Topology, type Windowed } from '../../src/index.ts';
import { WINDOW_MS } from './windowed-count-topology.ts';

/**
 * A topology with a repartition topic: records keyed by user carry their group as the value;
 * `groupBy` re-keys them by group (subtopology 0 writes `<applicationId>-by-group-repartition`
 * in its transactions), and subtopology 1 counts per group per one-minute window, writing every
 * update to `output` as `<group>@<windowStart>` → count.
 */
export function groupedCountTopology(input: string, output: string): Topology {
  const builder = new StreamsBuilder();
  builder
    .stream<string, string>(input, { keySerde: Serdes.string(), valueSerde: Serdes.string() })
    .groupBy((_user, group) => group, {
      keySerde: Serdes.string(),
      valueSerde: Serdes.string(),
      name: 'by-group',
    })
    .windowedBy(TimeWindows.tumbling(WINDOW_MS, { graceMs: 24 * 3_600_000 }))
    .count({ storeName: 'group-counts', emit: 'on-update' })
    .toStream()
    .map((k: Windowed<string>, v) => ({ key: `${k.key}@${k.window.start}`, value: String(v) }))
    .to(output, { keySerde: Serdes.string(), valueSerde: Serdes.string() });
  return builder.build();
}

/** What the counts per group and window must be, computed straight from the input. */
export function expectedGroupCounts(
  records: readonly { value: string; timestamp: number }[],
): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) {
    const k = `${r.value}@${r.timestamp - (r.timestamp % WINDOW_MS)}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

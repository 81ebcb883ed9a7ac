import { Serdes, StreamsBuilder, TimeWindows, type Topology, type Windowed } from '../../src/index.ts';

export const WINDOW_MS = 60_000;

/**
 * The topology the integration tests run: a tumbling one-minute count per key, every update
 * written to `output` keyed by `<key>@<windowStart>` with the count as a decimal string, so
 * that the last value per output key is the window's count.
 */
export function windowedCountTopology(
  input: string,
  output: string,
  emit: 'on-update' | 'on-window-close' = 'on-update',
  /** The output value of a key's count (default: the count as a decimal string). */
  render: (key: string, count: number) => string = (_key, count) => String(count),
): Topology {
  const builder = new StreamsBuilder();
  builder
    .stream<string, string>(input, { keySerde: Serdes.string(), valueSerde: Serdes.string() })
    .groupByKey()
    .windowedBy(TimeWindows.tumbling(WINDOW_MS, { graceMs: 24 * 3_600_000 }))
    .count({ storeName: 'counts', emit })
    .toStream()
    .map((k: Windowed<string>, v) => ({ key: `${k.key}@${k.window.start}`, value: render(k.key, Number(v)) }))
    .to(output, { keySerde: Serdes.string(), valueSerde: Serdes.string() });
  return builder.build();
}

/** What the windowed counts must be, computed straight from the input. */
export function expectedCounts(records: readonly { key: string; timestamp: number }[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) {
    const k = `${r.key}@${r.timestamp - (r.timestamp % WINDOW_MS)}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** The last count per output key. */
export function lastCounts(records: readonly { key: string; value: Buffer | null }[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) if (r.value) m.set(r.key, Number(r.value.toString()));
  return m;
}

import { describe, expect, it } from 'vitest';
import type { AfterGrace, EmitStrategy } from './options.ts';
import type { Windowed } from './record.ts';
import { Serdes } from './serde.ts';
import { StreamsBuilder } from './streams-builder.ts';
import { TopologyTestDriver } from './testing/topology-test-driver.ts';
import { SessionWindows, TimeWindows } from './windows.ts';

const S = Serdes.string();
const N = Serdes.number();
type Out = [string, number, number, number | null]; // key, start, end, sum

/** A windowed sum of signed numbers (a retraction is a negative value), `afterGrace: amend`. */
function windowedSum(windows: TimeWindows | SessionWindows, emit: EmitStrategy, retentionMs: number) {
  const b = new StreamsBuilder();
  const grouped = b.stream<string, number>('in', { keySerde: S, valueSerde: N }).groupByKey();
  const afterGrace: AfterGrace = 'amend';
  const options = { storeName: 'sums', emit, afterGrace, retentionMs, valueSerde: N };
  const table =
    windows instanceof TimeWindows
      ? grouped.windowedBy(windows).aggregate(
          () => 0,
          (_k, v, a) => a + v,
          options,
        )
      : grouped.windowedBy(windows).aggregate(
          () => 0,
          (_k, v, a) => a + v,
          (_k, x, y) => x + y,
          options,
        );
  table.toStream().to('out', { keySerde: Serdes.json<Windowed<string>>(), valueSerde: N });
  const driver = new TopologyTestDriver(b.build());
  const input = driver.createInputTopic('in', S, N);
  const output = driver.createOutputTopic('out', Serdes.json<Windowed<string>>(), N);
  const read = (): Out[] =>
    output.readRecords().map((r) => [r.key!.key, r.key!.window.start, r.key!.window.end, r.value]);
  const pipe = async (key: string, value: number, ts: number) => input.pipeInput(key, value, ts);
  return { driver, read, pipe };
}

describe("afterGrace: 'amend' (results that must equal their source)", () => {
  it('a retraction for a window past its grace still applies, and the window is emitted again', async () => {
    const { read, pipe, driver } = windowedSum(TimeWindows.tumbling(10, { graceMs: 5 }), 'on-update', 1_000);
    await pipe('a', 3, 2); // an order in [0,10)
    await pipe('a', 1, 95); // stream time 95: [0,10) closed long ago
    await pipe('a', -3, 2); // the order moves out of [0,10) (its update, much later)
    expect(read()).toEqual([
      ['a', 0, 10, 3],
      ['a', 90, 100, 1],
      ['a', 0, 10, 0],
    ]);
    expect(driver.metrics.lateRecords).toBe(0);
  });

  it('a backlog behind stream time lands in its windows instead of being dropped', async () => {
    const { read, pipe, driver } = windowedSum(TimeWindows.tumbling(10, { graceMs: 0 }), 'on-update', 1_000);
    await pipe('a', 1, 500); // one partition ran ahead
    await pipe('b', 1, 20); // another's snapshot, far behind
    await pipe('b', 1, 25);
    expect(read().slice(1)).toEqual([
      ['b', 20, 30, 1],
      ['b', 20, 30, 2],
    ]);
    expect(driver.metrics.lateRecords).toBe(0);
  });

  it('only a window out of retention makes a record late', async () => {
    const { read, pipe, driver } = windowedSum(TimeWindows.tumbling(10, { graceMs: 0 }), 'on-update', 100);
    await pipe('a', 1, 5);
    await pipe('a', 1, 150); // [0,10) is out of retention at 150 (end 10 + 100 < 150 + 1)
    read();
    await pipe('a', -1, 5);
    expect(read()).toEqual([]);
    expect(driver.metrics.lateRecords).toBe(1);
  });

  it('with on-window-close, a change to an emitted window is emitted as a correction', async () => {
    const { read, pipe } = windowedSum(TimeWindows.tumbling(10, { graceMs: 0 }), 'on-window-close', 1_000);
    await pipe('a', 2, 3);
    await pipe('a', 1, 12); // closes [0,10): emitted with 2
    expect(read()).toEqual([['a', 0, 10, 2]]);
    await pipe('a', 5, 4); // after the close: corrected to 7
    expect(read()).toEqual([['a', 0, 10, 7]]);
  });

  it('hopping windows: a late retraction leaves every window the record was in', async () => {
    const { read, pipe } = windowedSum(TimeWindows.hopping(10, 5, { graceMs: 0 }), 'on-update', 1_000);
    await pipe('a', 3, 7); // in [0,10) and [5,15)
    await pipe('a', 1, 60);
    read();
    await pipe('a', -3, 7);
    expect(read()).toEqual([
      ['a', 0, 10, 0],
      ['a', 5, 15, 0],
    ]);
  });

  it('sessions: an event past the grace that bridges two sessions merges them, retracting both', async () => {
    const { read, pipe, driver } = windowedSum(
      SessionWindows.inactivityGap(10, { graceMs: 0 }),
      'on-update',
      1_000,
    );
    await pipe('a', 1, 0);
    await pipe('a', 1, 18); // a second session (gap 10)
    await pipe('a', 1, 100); // stream time 100: both closed
    read();
    await pipe('a', 1, 9); // bridges [0,0] and [18,18]
    expect(read()).toEqual([
      ['a', 0, 0, null],
      ['a', 18, 18, null],
      ['a', 0, 18, 3],
    ]);
    expect(driver.metrics.lateRecords).toBe(0);
  });
});

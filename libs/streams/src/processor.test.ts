import { describe, expect, it } from 'vitest';
import type { Processor, ProcessorContext } from './processor.ts';
import { Serdes } from './serde.ts';
import { type KeyValueStore, Stores } from './stores.ts';
import { StreamsBuilder } from './streams-builder.ts';
import { TopologyTestDriver } from './testing/topology-test-driver.ts';

const S = Serdes.string();
const N = Serdes.number();

/** Sums values per key in a store and flushes the sums on a schedule. */
function summer(type: 'stream-time' | 'wall-clock'): () => Processor<string, number, string, number> {
  return () => {
    let ctx: ProcessorContext<string, number>;
    let store: KeyValueStore<string, number>;
    return {
      init(c) {
        ctx = c;
        store = c.getStateStore('sums');
        c.schedule(10, type, async (time) => {
          for await (const { key, value } of store.all()) await ctx.forward({ key, value, timestamp: time });
        });
      },
      async process(r) {
        await store.put(r.key, ((await store.get(r.key)) ?? 0) + r.value);
      },
    };
  };
}

function driverFor(type: 'stream-time' | 'wall-clock') {
  const b = new StreamsBuilder();
  b.addStateStore(Stores.keyValue('sums', S, N));
  b.stream<string, number>('in', { keySerde: S, valueSerde: N })
    .process(summer(type), { stores: ['sums'] })
    .to('out', { keySerde: S, valueSerde: N });
  const driver = new TopologyTestDriver(b.build(), { wallClockMs: 0 });
  return {
    driver,
    input: driver.createInputTopic('in', S, N),
    output: driver.createOutputTopic('out', S, N),
  };
}

describe('punctuation', () => {
  it('on stream time: fires when records move stream time past a multiple of the interval, once per advance', async () => {
    const { input, output } = driverFor('stream-time');
    await input.pipeInput('a', 1, 3);
    expect(output.isEmpty()).toBe(true);
    await input.pipeInput('a', 2, 10);
    expect(output.readRecords().map((r) => [r.key, r.value, r.timestamp])).toEqual([['a', 3, 10]]);
    await input.pipeInput('a', 4, 5); // out of order: stream time stays 10
    expect(output.isEmpty()).toBe(true);
    await input.pipeInput('b', 1, 45); // jumps three intervals: fires once
    expect(output.readRecords().map((r) => [r.key, r.value, r.timestamp])).toEqual([
      ['a', 7, 45],
      ['b', 1, 45],
    ]);
  });

  it('on wall-clock time: fires as the clock advances, with no records needed', async () => {
    const { driver, input, output } = driverFor('wall-clock');
    await input.pipeInput('a', 5, 1_000_000);
    await driver.advanceWallClockTime(9);
    expect(output.isEmpty()).toBe(true);
    await driver.advanceWallClockTime(1);
    expect(output.readRecords().map((r) => [r.key, r.value, r.timestamp])).toEqual([['a', 5, 10]]);
    await driver.advanceWallClockTime(35);
    expect(output.readRecords()).toHaveLength(1);
  });

  it('a cancelled punctuation no longer fires', async () => {
    const b = new StreamsBuilder();
    let fired = 0;
    b.stream<string, number>('in', { keySerde: S, valueSerde: N }).process<string, number>(() => ({
      init(c) {
        const p = c.schedule(5, 'wall-clock', () => void fired++);
        c.schedule(8, 'wall-clock', () => p.cancel());
      },
      process() {},
    }));
    const driver = new TopologyTestDriver(b.build());
    await driver.advanceWallClockTime(10);
    expect(fired).toBe(1);
    await driver.advanceWallClockTime(10);
    await driver.advanceWallClockTime(10);
    expect(fired).toBe(1);
  });
});

describe('custom processors', () => {
  it('see the record metadata and task of what they process', async () => {
    const b = new StreamsBuilder();
    const seen: unknown[] = [];
    b.stream<string, number>('in', { keySerde: S, valueSerde: N }).process<string, number>(() => {
      let ctx: ProcessorContext<string, number>;
      return {
        init(c) {
          ctx = c;
        },
        process: () =>
          void seen.push({ task: ctx.taskId, meta: ctx.recordMetadata(), streamTime: ctx.streamTime() }),
      };
    });
    const driver = new TopologyTestDriver(b.build());
    await driver.createInputTopic('in', S, N).pipeInput('a', 1, 77);
    expect(seen).toEqual([{ task: '0_0', meta: { topic: 'in', partition: 0, offset: '0' }, streamTime: 77 }]);
  });

  it('cannot use a store they did not declare... unless it is in their task; an unknown store is a clear error', async () => {
    const b = new StreamsBuilder();
    b.stream<string, number>('in', { keySerde: S, valueSerde: N }).process<string, number>(() => ({
      init: (c) => void c.getStateStore('nope'),
      process() {},
    }));
    const driver = new TopologyTestDriver(b.build());
    await expect(driver.createInputTopic('in', S, N).pipeInput('a', 1, 1)).rejects.toThrow(/store nope/);
  });
});

describe('flush', () => {
  it('forwards what a processor held back before the commit; the test driver commits after every record', async () => {
    const b = new StreamsBuilder();
    b.stream<string, number>('in', { keySerde: S, valueSerde: N })
      .process((): Processor<string, number, string, number> => {
        let ctx: ProcessorContext<string, number>;
        const held: { key: string; value: number; timestamp: number }[] = [];
        return {
          init(c) {
            ctx = c;
          },
          process(r) {
            held.push({ key: r.key, value: r.value * 10, timestamp: r.timestamp });
          },
          async flush() {
            for (const r of held.splice(0)) await ctx.forward(r);
          },
        };
      })
      .to('out', { keySerde: S, valueSerde: N });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    const output = driver.createOutputTopic('out', S, N);
    await input.pipeInput('a', 1, 5);
    expect(output.readKeyValuesToMap()).toEqual(new Map([['a', 10]]));
    await input.pipeInput('b', 2, 6);
    expect(output.readKeyValuesToMap()).toEqual(new Map([['b', 20]]));
  });
});

describe('flush failures', () => {
  it('stop the task with an error naming the flush, since no input record can be skipped for them', async () => {
    const failing = {
      serialize: () => {
        throw new Error('cannot encode');
      },
      deserialize: () => null,
    };
    const b = new StreamsBuilder();
    b.stream<string, number>('in', { keySerde: S, valueSerde: N })
      .process((): Processor<string, number, string, number> => {
        let ctx: ProcessorContext<string, number>;
        const held: { key: string; value: number; timestamp: number }[] = [];
        return {
          init(c) {
            ctx = c;
          },
          process(r) {
            held.push({ key: r.key, value: r.value, timestamp: r.timestamp });
          },
          async flush() {
            for (const r of held.splice(0)) await ctx.forward(r);
          },
        };
      })
      .to('out', { keySerde: S, valueSerde: failing });
    const driver = new TopologyTestDriver(b.build(), { commitEachRecord: false });
    await driver.createInputTopic('in', S, N).pipeInput('a', 1, 5);
    await expect(driver.commit()).rejects.toThrow(/while flushing task .* before a commit: cannot encode/);
  });
});

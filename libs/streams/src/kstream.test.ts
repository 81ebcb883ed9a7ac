import { describe, expect, it } from 'vitest';
import { Serdes } from './serde.ts';
import { StreamsBuilder } from './streams-builder.ts';
import { TopologyTestDriver } from './testing/topology-test-driver.ts';

const S = Serdes.string();
const N = Serdes.number();

function setup(build: (b: StreamsBuilder) => void) {
  const b = new StreamsBuilder({ defaultKeySerde: S as never });
  build(b);
  const driver = new TopologyTestDriver(b.build());
  return { driver, input: driver.createInputTopic('in', S, N) };
}

describe('stateless operators', () => {
  it('filter and filterNot keep what matches', async () => {
    const { driver, input } = setup((b) => {
      const s = b.stream<string, number>('in', { keySerde: S, valueSerde: N });
      s.filter((_k, v) => v > 1).to('big', { valueSerde: N });
      s.filterNot((_k, v) => v > 1).to('small', { valueSerde: N });
    });
    await input.pipeRecords([1, 2, 3].map((v) => ({ key: 'k', value: v, timestamp: v })));
    expect(driver.createOutputTopic('big', S, N).readValues()).toEqual([2, 3]);
    expect(driver.createOutputTopic('small', S, N).readValues()).toEqual([1]);
  });

  it('map, mapValues, selectKey and flatMap transform keys and values, keeping timestamps', async () => {
    const { driver, input } = setup((b) => {
      const s = b.stream<string, number>('in', { keySerde: S, valueSerde: N });
      s.map((k, v) => ({ key: `${k}!`, value: v * 10 })).to('mapped', { keySerde: S, valueSerde: N });
      s.mapValues((v, k) => `${k}=${v}`).to('values', { valueSerde: S });
      s.selectKey((_k, v) => `n${v}`).to('rekeyed', { keySerde: S, valueSerde: N });
      s.flatMap((k, v) => Array.from({ length: v }, (_, i) => ({ key: `${k}${i}`, value: i }))).to('flat', {
        keySerde: S,
        valueSerde: N,
      });
      s.flatMapValues((v) => [v, v]).to('flat-values', { valueSerde: N });
    });
    await input.pipeInput('a', 2, 500);
    expect(driver.createOutputTopic('mapped', S, N).readRecords()).toEqual([
      { key: 'a!', value: 20, timestamp: 500, headers: {} },
    ]);
    expect(driver.createOutputTopic('values', S, S).readValues()).toEqual(['a=2']);
    expect(driver.createOutputTopic('rekeyed', S, N).readRecord()?.key).toBe('n2');
    expect(
      driver
        .createOutputTopic('flat', S, N)
        .readRecords()
        .map((r) => [r.key, r.value]),
    ).toEqual([
      ['a0', 0],
      ['a1', 1],
    ]);
    expect(driver.createOutputTopic('flat-values', S, N).readValues()).toEqual([2, 2]);
  });

  it('peek sees every record and passes it on unchanged', async () => {
    const seen: number[] = [];
    const { driver, input } = setup((b) => {
      b.stream<string, number>('in', { keySerde: S, valueSerde: N })
        .peek((_k, v) => seen.push(v))
        .to('out', { valueSerde: N });
    });
    await input.pipeInput('a', 1, 1);
    await input.pipeInput('a', 2, 2);
    expect(seen).toEqual([1, 2]);
    expect(driver.createOutputTopic('out', S, N).readValues()).toEqual([1, 2]);
  });

  it('split sends each record to the first matching branch, the rest to the default branch', async () => {
    const { driver, input } = setup((b) => {
      const branches = b
        .stream<string, number>('in', { keySerde: S, valueSerde: N })
        .split()
        .branch('negative', (_k, v) => v < 0)
        .branch('small', (_k, v) => v < 10)
        .defaultBranch('large');
      branches.negative?.to('negative', { valueSerde: N });
      branches.small?.to('small', { valueSerde: N });
      branches.large?.to('large', { valueSerde: N });
    });
    for (const v of [-1, 5, 50, -7]) await input.pipeInput('k', v, 0);
    expect(driver.createOutputTopic('negative', S, N).readValues()).toEqual([-1, -7]);
    expect(driver.createOutputTopic('small', S, N).readValues()).toEqual([5]);
    expect(driver.createOutputTopic('large', S, N).readValues()).toEqual([50]);
  });

  it('split without a default branch drops what matches no branch', async () => {
    const { driver, input } = setup((b) => {
      const { even } = b
        .stream<string, number>('in', { keySerde: S, valueSerde: N })
        .split()
        .branch('even', (_k, v) => v % 2 === 0)
        .noDefaultBranch();
      even?.to('even', { valueSerde: N });
    });
    for (const v of [1, 2, 3, 4]) await input.pipeInput('k', v, 0);
    expect(driver.createOutputTopic('even', S, N).readValues()).toEqual([2, 4]);
  });

  it('merge interleaves two streams in arrival order', async () => {
    const b = new StreamsBuilder();
    const x = b.stream<string, number>('x', { keySerde: S, valueSerde: N });
    const y = b.stream<string, number>('y', { keySerde: S, valueSerde: N });
    x.merge(y).to('out', { keySerde: S, valueSerde: N });
    const driver = new TopologyTestDriver(b.build());
    await driver.createInputTopic('x', S, N).pipeInput('a', 1, 0);
    await driver.createInputTopic('y', S, N).pipeInput('b', 2, 0);
    await driver.createInputTopic('x', S, N).pipeInput('c', 3, 0);
    expect(
      driver
        .createOutputTopic('out', S, N)
        .readRecords()
        .map((r) => r.key),
    ).toEqual(['a', 'b', 'c']);
  });

  it('passes headers through to the output', async () => {
    const { driver, input } = setup((b) => {
      b.stream<string, number>('in', { keySerde: S, valueSerde: N }).to('out', { valueSerde: N });
    });
    await input.pipeInput('a', 1, 0, { trace: 'abc' });
    expect(driver.createOutputTopic('out', S, N).readRecord()?.headers).toEqual({ trace: 'abc' });
  });

  it('uses the timestamp extractor for event time', async () => {
    const b = new StreamsBuilder();
    b.stream<string, { at: number }>('in', { keySerde: S, timestampExtractor: (r) => r.value?.at ?? 0 }).to(
      'out',
    );
    const driver = new TopologyTestDriver(b.build());
    await driver.createInputTopic<string, { at: number }>('in', S).pipeInput('a', { at: 42 }, 7);
    expect(driver.createOutputTopic('out', S).readRecord()?.timestamp).toBe(42);
  });
});

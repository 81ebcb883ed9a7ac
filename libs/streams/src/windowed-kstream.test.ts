import { describe, expect, it } from 'vitest';
import type { EmitStrategy } from './options.ts';
import type { Windowed } from './record.ts';
import { Serdes } from './serde.ts';
import { StreamsBuilder } from './streams-builder.ts';
import { TopologyTestDriver } from './testing/topology-test-driver.ts';
import { SessionWindows, TimeWindows } from './windows.ts';

const S = Serdes.string();
const N = Serdes.number();
type Out = [string, number, number, number | null]; // key, start, end, count

function windowedCount(windows: TimeWindows | SessionWindows, emit: EmitStrategy, lateRecordsTopic?: string) {
  const b = new StreamsBuilder();
  const grouped = b.stream<string, string>('in', { keySerde: S, valueSerde: S }).groupByKey();
  const options = { storeName: 'counts', emit, ...(lateRecordsTopic ? { lateRecordsTopic } : {}) };
  const table =
    windows instanceof TimeWindows
      ? grouped.windowedBy(windows).count(options)
      : grouped.windowedBy(windows).count(options);
  table.toStream().to('out', { keySerde: Serdes.json<Windowed<string>>(), valueSerde: N });
  const driver = new TopologyTestDriver(b.build());
  const input = driver.createInputTopic('in', S, S);
  const output = driver.createOutputTopic('out', Serdes.json<Windowed<string>>(), N);
  const read = (): Out[] =>
    output.readRecords().map((r) => [r.key!.key, r.key!.window.start, r.key!.window.end, r.value]);
  const pipe = async (key: string, ts: number) => input.pipeInput(key, 'x', ts);
  return { driver, read, pipe };
}

describe('tumbling windows', () => {
  it('counts per key and window, a record exactly at a window end going to the next window', async () => {
    const { read, pipe } = windowedCount(TimeWindows.tumbling(10, { graceMs: 0 }), 'on-update');
    await pipe('a', 0);
    await pipe('a', 9);
    await pipe('a', 10);
    await pipe('b', 10);
    expect(read()).toEqual([
      ['a', 0, 10, 1],
      ['a', 0, 10, 2],
      ['a', 10, 20, 1],
      ['b', 10, 20, 1],
    ]);
  });

  it('accepts out-of-order records within the grace period', async () => {
    const { read, pipe, driver } = windowedCount(TimeWindows.tumbling(10, { graceMs: 5 }), 'on-update');
    await pipe('a', 12); // stream time 12
    await pipe('a', 3); // window [0,10) closes at 15: still open
    await pipe('a', 14); // stream time 14
    await pipe('a', 9); // still open (14 < 15)
    expect(read()).toEqual([
      ['a', 10, 20, 1],
      ['a', 0, 10, 1],
      ['a', 10, 20, 2],
      ['a', 0, 10, 2],
    ]);
    expect(driver.metrics.lateRecords).toBe(0);
  });

  it('drops and counts records beyond the grace period, exactly at end + grace included', async () => {
    const { read, pipe, driver } = windowedCount(TimeWindows.tumbling(10, { graceMs: 5 }), 'on-update');
    await pipe('a', 15); // stream time 15 = end of [0,10) + grace: it is closed
    read();
    await pipe('a', 9);
    expect(read()).toEqual([]);
    expect(driver.metrics.lateRecords).toBe(1);
    expect(await driver.getWindowStore('counts').fetch('a', 0)).toBeUndefined();
  });

  it('sends late records, unchanged and with the reason in headers, to the late-records topic', async () => {
    const { pipe, driver } = windowedCount(TimeWindows.tumbling(10, { graceMs: 0 }), 'on-update', 'late');
    await pipe('a', 25);
    await pipe('a', 7);
    const late = driver.createOutputTopic('late', S, S).readRecords();
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ key: 'a', value: 'x', timestamp: 7 });
    expect(late[0]?.headers).toMatchObject({
      'cdc.late.window.start': '0',
      'cdc.late.window.end': '10',
      'cdc.late.stream-time': '25',
    });
    expect(driver.metrics.lateRecordsSent).toBe(1);
  });

  it('emits each window once, final, when stream time passes end + grace', async () => {
    const { read, pipe } = windowedCount(TimeWindows.tumbling(10, { graceMs: 5 }), 'on-window-close');
    await pipe('a', 1);
    await pipe('b', 2);
    await pipe('a', 8);
    await pipe('a', 14); // [0,10) closes at 15: not yet
    expect(read()).toEqual([]);
    await pipe('a', 6); // within grace, still counted
    await pipe('c', 15); // closes [0,10)
    expect(read()).toEqual([
      ['a', 0, 10, 3],
      ['b', 0, 10, 1],
    ]);
    await pipe('c', 40); // closes [10,20)
    expect(read()).toEqual([
      ['a', 10, 20, 1],
      ['c', 10, 20, 1],
    ]);
  });

  it('keeps windows only for size + grace of stream time', async () => {
    const { pipe, driver } = windowedCount(TimeWindows.tumbling(10, { graceMs: 5 }), 'on-update');
    await pipe('a', 1);
    await pipe('a', 14);
    expect(await driver.getWindowStore('counts').fetch('a', 0)).toBe(1);
    await pipe('a', 15);
    expect(await driver.getWindowStore('counts').fetch('a', 0)).toBeUndefined();
    expect(await driver.getWindowStore('counts').fetch('a', 10)).toBe(2);
  });
});

describe('hopping windows', () => {
  it('counts a record in every window that contains it', async () => {
    const { read, pipe } = windowedCount(TimeWindows.hopping(10, 5, { graceMs: 0 }), 'on-update');
    await pipe('a', 7);
    expect(read()).toEqual([
      ['a', 0, 10, 1],
      ['a', 5, 15, 1],
    ]);
  });

  it('adds a record to the windows still open and reports it late for the closed ones', async () => {
    const { read, pipe, driver } = windowedCount(TimeWindows.hopping(10, 5, { graceMs: 0 }), 'on-update');
    await pipe('a', 12); // closes [0,10)
    read();
    await pipe('a', 7); // [0,10) closed, [5,15) open
    expect(read()).toEqual([['a', 5, 15, 2]]);
    expect(driver.metrics.lateRecords).toBe(1);
  });

  it('emits on close in window-end order', async () => {
    const { read, pipe } = windowedCount(TimeWindows.hopping(10, 5, { graceMs: 0 }), 'on-window-close');
    await pipe('a', 7);
    await pipe('a', 30);
    expect(read()).toEqual([
      ['a', 0, 10, 1],
      ['a', 5, 15, 1],
    ]);
  });
});

describe('session windows', () => {
  it('merges records within the gap into one session and retracts the merged ones', async () => {
    const { read, pipe, driver } = windowedCount(
      SessionWindows.inactivityGap(10, { graceMs: 20 }),
      'on-update',
    );
    await pipe('a', 0);
    await pipe('a', 18); // new session
    await pipe('a', 9); // bridges [0,0] and [18,18] (gap 10)
    expect(read()).toEqual([
      ['a', 0, 0, 1],
      ['a', 18, 18, 1],
      ['a', 0, 0, null],
      ['a', 18, 18, null],
      ['a', 0, 18, 3],
    ]);
    expect((await driver.getSessionStore('counts').findSessions('a', 0, 100)).map((s) => s.value)).toEqual([
      3,
    ]);
  });

  it('starts a new session once the gap is exceeded, with the gap exact at the boundary', async () => {
    const { read, pipe } = windowedCount(SessionWindows.inactivityGap(10, { graceMs: 0 }), 'on-update');
    await pipe('a', 0);
    await pipe('a', 10); // exactly gap away: same session
    await pipe('a', 21); // 11 away: a new session
    expect(read().filter((r) => r[3] !== null)).toEqual([
      ['a', 0, 0, 1],
      ['a', 0, 10, 2],
      ['a', 21, 21, 1],
    ]);
  });

  it('emits sessions on close (stream time past end + gap + grace) and counts late records', async () => {
    const { read, pipe, driver } = windowedCount(
      SessionWindows.inactivityGap(10, { graceMs: 5 }),
      'on-window-close',
      'late',
    );
    await pipe('a', 0);
    await pipe('a', 5);
    await pipe('b', 20); // [0,5]: 5 + 10 + 5 = 20, a record at 15 could still join
    expect(read()).toEqual([]);
    await pipe('a', 15); // exactly within gap and grace: joins
    await pipe('b', 31); // [0,15] closes (31 > 15 + 15); [20,20] does not
    expect(read()).toEqual([['a', 0, 15, 3]]);
    await pipe('a', 5); // 5 + 10 + 5 < 31: late
    expect(driver.metrics.lateRecords).toBe(1);
    expect(driver.createOutputTopic('late', S, S).readRecords()).toHaveLength(1);
  });

  it('never reopens a closed session: a record within the gap of it starts a new one', async () => {
    const { read, pipe } = windowedCount(SessionWindows.inactivityGap(10, { graceMs: 0 }), 'on-window-close');
    await pipe('a', 0);
    await pipe('b', 11); // closes [0,0] (11 > 0 + 10 + 0)
    expect(read()).toEqual([['a', 0, 0, 1]]);
    await pipe('a', 9); // 9 + 10 ≥ 11: not late; within the gap of the closed session, but a new session
    await pipe('b', 100);
    expect(read()).toEqual([
      ['a', 9, 9, 1],
      ['b', 11, 11, 1],
    ]);
  });
});

describe('windowed reduce and aggregate', () => {
  it('reduce and aggregate over tumbling windows', async () => {
    const b = new StreamsBuilder();
    const w = b
      .stream<string, number>('in', { keySerde: S, valueSerde: N })
      .groupByKey()
      .windowedBy(TimeWindows.tumbling(10, { graceMs: 0 }));
    w.reduce((a, v) => a + v, { storeName: 'sum', retentionMs: 100 });
    w.aggregate(
      () => [] as number[],
      (_k, v, a) => [...a, v],
      { storeName: 'list' },
    );
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    await input.pipeInput('a', 2, 1);
    await input.pipeInput('a', 3, 2);
    await input.pipeInput('a', 4, 11);
    expect(await driver.getWindowStore('sum').fetch('a', 0)).toBe(5);
    expect(await driver.getWindowStore('list').fetch('a', 10)).toEqual([4]);
  });

  it('session reduce merges with the reducer', async () => {
    const b = new StreamsBuilder();
    b.stream<string, number>('in', { keySerde: S, valueSerde: N })
      .groupByKey()
      .windowedBy(SessionWindows.inactivityGap(5, { graceMs: 10 }))
      .reduce((a, v) => a + v, { storeName: 's' });
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', S, N);
    await input.pipeInput('a', 1, 0);
    await input.pipeInput('a', 10, 10);
    await input.pipeInput('a', 100, 5);
    expect(
      (await driver.getSessionStore('s').findSessions('a', 0, 100)).map((s) => [s.window, s.value]),
    ).toEqual([[{ start: 0, end: 10 }, 111]]);
  });

  it('a restore from the changelog keeps the observed stream time, so closed windows stay closed', async () => {
    const { pipe, driver } = windowedCount(TimeWindows.tumbling(10, { graceMs: 0 }), 'on-window-close');
    await pipe('a', 3);
    await pipe('a', 25);
    const log = driver.changelog('counts');
    // the stream-time marker is part of the changelog
    expect(log.some((r) => r.key.length === 1 && r.key[0] === 0x02)).toBe(true);
  });
});

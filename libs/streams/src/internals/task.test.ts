import { noopLogger } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { defaultErrorHandlers, ErrorPolicies } from '../error-handlers.ts';
import type { ProcessorContext } from '../processor.ts';
import { Serdes } from '../serde.ts';
import { type KeyValueStore, Stores } from '../stores.ts';
import { StreamsBuilder } from '../streams-builder.ts';
import { MemoryBytesStore } from './stores/memory-bytes-store.ts';
import { type AnyStore, typedStore } from './stores/typed-stores.ts';
import { newMetrics, type OutgoingRecord, StreamTask } from './task.ts';

const S = Serdes.string();

function taskOf(builder: StreamsBuilder, options: { fail?: boolean } = {}) {
  const topology = builder.build();
  const st = topology.subtopologies[0];
  if (!st) throw new Error('no subtopology');
  const stores = new Map<string, AnyStore>();
  for (const spec of st.stores) stores.set(spec.name, typedStore(spec, new MemoryBytesStore()));
  const sent: OutgoingRecord[] = [];
  const metrics = newMetrics();
  const task = new StreamTask({
    id: '0_0',
    partition: 0,
    subtopology: st,
    stores,
    globalStores: new Map(),
    collector: { send: (r) => sent.push(r) },
    topicName: (t) => t,
    wallClock: () => 0,
    handlers: {
      ...defaultErrorHandlers,
      processing: options.fail ? ErrorPolicies.fail() : ErrorPolicies.continue(),
    },
    logger: noopLogger,
    metrics,
  });
  return { task, sent, metrics };
}

const raw = (key: string, value: string, offset = 0) => ({
  topic: 'in',
  partition: 0,
  offset: String(offset),
  key: Buffer.from(key),
  value: Buffer.from(value),
  timestamp: 1_000,
  headers: {},
});

describe('StreamTask, synchronous path', () => {
  it('makes no promise for a record whose processors and stores all answer at once', async () => {
    const b = new StreamsBuilder();
    b.addStateStore(Stores.keyValue('counts', S, Serdes.number()));
    b.stream<string, string>('in', { keySerde: S, valueSerde: S })
      .process<string, string>(
        () => {
          let ctx: ProcessorContext<string, string>;
          let counts: KeyValueStore<string, number>;
          return {
            init(c) {
              ctx = c;
              counts = c.getStateStore('counts');
            },
            process(r) {
              const n = (counts.getSync(r.key) ?? 0) + 1;
              counts.putSync(r.key, n);
              return ctx.forward({ ...r, value: `${r.value}#${n}` });
            },
          };
        },
        { stores: ['counts'] },
      )
      .to('out', { keySerde: S, valueSerde: S });
    const { task, sent, metrics } = taskOf(b);
    await task.init();
    expect(task.process(raw('k', 'a'))).toBeUndefined();
    expect(task.process(raw('k', 'b', 1))).toBeUndefined();
    expect(sent.map((r) => r.value?.toString())).toEqual(['a#1', 'b#2']);
    expect(metrics.processed).toBe(2);
  });

  it('waits for a child that returns a promise before the next child, keeping the order of outputs', async () => {
    const b = new StreamsBuilder();
    const events: string[] = [];
    let release: () => void = () => {};
    const source = b.stream<string, string>('in', { keySerde: S, valueSerde: S });
    source
      .process<string, string>(() => {
        let ctx: ProcessorContext<string, string>;
        return {
          init(c) {
            ctx = c;
          },
          async process(r) {
            events.push('slow: start');
            await new Promise<void>((resolve) => {
              release = resolve;
            });
            events.push('slow: end');
            await ctx.forward({ ...r, value: `slow ${r.value}` });
          },
        };
      })
      .to('out', { keySerde: S, valueSerde: S });
    source
      .process<string, string>(() => {
        let ctx: ProcessorContext<string, string>;
        return {
          init(c) {
            ctx = c;
          },
          process(r) {
            events.push('fast');
            return ctx.forward({ ...r, value: `fast ${r.value}` });
          },
        };
      })
      .to('out', { keySerde: S, valueSerde: S });
    const { task, sent, metrics } = taskOf(b);
    await task.init();
    const done = task.process(raw('k', 'x'));
    expect(done).toBeInstanceOf(Promise);
    expect(events).toEqual(['slow: start']);
    expect(metrics.processed).toBe(0);
    release();
    await done;
    expect(events).toEqual(['slow: start', 'slow: end', 'fast']);
    expect(sent.map((r) => r.value?.toString())).toEqual(['slow x', 'fast x']);
    expect(metrics.processed).toBe(1);
  });

  it('applies the error policy to a synchronous failure: continue skips the record, fail throws at once', async () => {
    const failing = (fail: boolean) => {
      const b = new StreamsBuilder();
      b.stream<string, string>('in', { keySerde: S, valueSerde: S })
        .process<string, string>(() => ({
          process(r) {
            if (r.value === 'bad') throw new Error('bad value');
          },
        }))
        .to('out', { keySerde: S, valueSerde: S });
      return taskOf(b, { fail });
    };
    const skipping = failing(false);
    await skipping.task.init();
    expect(skipping.task.process(raw('k', 'bad'))).toBeUndefined();
    expect(skipping.metrics.skipped).toBe(1);
    expect(skipping.task.process(raw('k', 'good', 1))).toBeUndefined();
    expect(skipping.metrics.processed).toBe(1);

    const stopping = failing(true);
    await stopping.task.init();
    expect(() => stopping.task.process(raw('k', 'bad'))).toThrow(/in\[0\]@0 failed at .*bad value/);
  });
});

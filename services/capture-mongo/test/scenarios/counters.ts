/**
 * The load of the fault scenarios: a collection of counters `{ _id: 'k<n>', seq }` seeded at 0
 * and only ever changed by `$inc: { seq: 1 }`, and the check that what Kafka holds has every
 * update exactly once and in the server's order per `_id`: on a server with update
 * descriptions (SecantusDB) each key's `seq` values run 1, 2, 3… with no gap or repeat; else
 * (mongo-java-server) each key has as many updates as its final count, in increasing
 * resume-token (oplog time) order.
 */
import type { Collection } from 'mongodb';
import { Int32 } from 'mongodb';
import { expect } from 'vitest';
import type { Consumed, ServerCase } from './harness.ts';

export interface Counter {
  _id: string;
  seq: Int32;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CounterLoad {
  readonly coll: Collection<Counter>;
  readonly keys: number;
  /** Updates acknowledged by the server so far. */
  updates = 0;
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(coll: Collection<Counter>, keys: number) {
    this.coll = coll;
    this.keys = keys;
  }

  async seed(): Promise<void> {
    await this.coll.insertMany(
      Array.from({ length: this.keys }, (_, k) => ({ _id: `k${k}`, seq: new Int32(0) })),
    );
  }

  /** Updates random keys until `stop()`, pausing `pauseMs` every `every` updates. */
  start(every = 20, pauseMs = 5): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const key = `k${Math.floor(Math.random() * this.keys)}`;
        await this.coll.updateOne({ _id: key }, { $inc: { seq: new Int32(1) } });
        this.updates++;
        if (this.updates % every === 0) await sleep(pauseMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** `_id` as the record key spells it → the final `seq`; checks the count matches `updates`. */
  async final(): Promise<Map<string, number>> {
    const final = new Map(
      (await this.coll.find({}).toArray()).map((d) => [JSON.stringify(d._id), Number(d.seq)]),
    );
    expect([...final.values()].reduce((a, b) => a + b, 0)).toBe(this.updates);
    return final;
  }
}

/** Every update in `records` exactly once, in order per `_id`, and as many as `final` says. */
export function expectEveryUpdateOnce(
  records: readonly Consumed[],
  final: ReadonlyMap<string, number>,
  server: ServerCase,
): void {
  const ups = records.filter((r) => r.value?.op === 'u');
  expect(new Set(ups.map((r) => r.value!.changeId)).size).toBe(ups.length);
  expect(ups.length).toBe([...final.values()].reduce((a, b) => a + b, 0));
  const perKey = new Map<string, Consumed[]>();
  for (const r of ups) {
    const list = perKey.get(r.key!.id) ?? [];
    list.push(r);
    perKey.set(r.key!.id, list);
  }
  for (const [key, count] of final) {
    const list = perKey.get(key) ?? [];
    expect(list.length, key).toBe(count);
    if (server.updateDescription) {
      const seqs = list.map((r) => {
        const set = JSON.parse(r.value!.updateDescription!.updatedFields as string) as {
          seq: { $numberInt: string };
        };
        return Number(set.seq.$numberInt);
      });
      expect(seqs, key).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    } else {
      const times = list.map((r) => BigInt(`0x${r.value!.changeId}`));
      for (let i = 1; i < times.length; i++) expect(times[i]! > times[i - 1]!, key).toBe(true);
    }
  }
}

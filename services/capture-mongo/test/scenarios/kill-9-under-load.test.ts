/**
 * kill-9-under-load: the capture (a child process running the built service) is killed with
 * SIGKILL at random moments while updates stream in, and started again each time. A
 * read_committed consumer then sees every update exactly once and, per `_id`, in the server's
 * order: on SecantusDB each update's `$inc` result (from its update description) runs 1, 2, 3…
 * per key with no gap or repeat; on mongo-java-server (no update description) each key has as
 * many updates as its final count, in increasing resume-token (oplog time) order.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Int32 } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Consumed,
  cleanup,
  consume,
  mongoClient,
  SERVERS,
  scenario,
  serviceDir,
  spawnCapture,
  waitFor,
} from './harness.ts';

const KEYS = 20;
const KILLS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(() => {
  // The child runs the built service.
  execFileSync('npx', ['tsc', '-b', serviceDir], { stdio: 'inherit' });
});

describe.each(SERVERS)('kill-9-under-load on $name', (server) => {
  const s = scenario('kill9', server);
  const client = mongoClient(server.url);
  let child: ChildProcess | undefined;
  afterAll(async () => {
    child?.kill('SIGKILL');
    await cleanup(s, ['counters']);
    await client.close();
  });

  it('writes every update exactly once and in order per _id across repeated kill -9', {
    timeout: 150_000,
  }, async () => {
    await client.connect();
    const coll = client.db(s.db).collection<{ _id: string; seq: Int32 }>('counters');
    await coll.insertMany(Array.from({ length: KEYS }, (_, k) => ({ _id: `k${k}`, seq: new Int32(0) })));
    const source = s.source({ maxChangesPerTransaction: 20, heartbeatIntervalMs: 500 });
    const log = join(tmpdir(), `${s.name}.log`);
    // The first run takes the start point (and snapshots the seed documents); the load starts
    // once it streams, so every update comes after the start point.
    child = spawnCapture(source, log);
    await waitFor(
      'the first run to stream',
      60_000,
      () => existsSync(log) && readFileSync(log, 'utf8').includes('"msg":"streaming"'),
    );
    let loading = true;
    let updates = 0;
    const load = (async () => {
      while (loading) {
        const key = `k${Math.floor(Math.random() * KEYS)}`;
        await coll.updateOne({ _id: key }, { $inc: { seq: new Int32(1) } });
        updates++;
        if (updates % 20 === 0) await sleep(5);
      }
    })();
    const exited = (c: ChildProcess) =>
      new Promise<void>((r) => (c.exitCode !== null ? r() : c.once('exit', () => r())));
    for (let k = 0; k < KILLS; k++) {
      if (k > 0) child = spawnCapture(source, log);
      await sleep(1500 + Math.random() * 2500);
      child!.kill('SIGKILL');
      await exited(child!);
    }
    child = spawnCapture(source, log);
    await sleep(1500);
    loading = false;
    await load;
    const final = new Map((await coll.find({}).toArray()).map((d) => [JSON.stringify(d._id), Number(d.seq)]));
    const total = [...final.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(updates);

    const records = await consume([s.topicOf('counters')], {
      expected: KEYS + updates,
      timeoutMs: 90_000,
      settleMs: 2000,
    });
    child.kill('SIGTERM');
    await exited(child);
    const ups = records.filter((r) => r.value!.op === 'u');
    // Exactly once: every update, no change id twice.
    expect(new Set(ups.map((r) => r.value!.changeId)).size).toBe(ups.length);
    expect(ups.length).toBe(updates);
    // In order per _id: partition order is the server's order for each key.
    const perKey = new Map<string, Consumed[]>();
    for (const r of ups) {
      const list = perKey.get(r.key!.id) ?? [];
      list.push(r);
      perKey.set(r.key!.id, list);
    }
    for (const [key, list] of perKey) {
      expect(list.length, key).toBe(final.get(key));
      if (server.updateDescription) {
        const seqs = list.map((r) => {
          const set = JSON.parse(r.value!.updateDescription!.updatedFields as string) as {
            seq: { $numberInt: string };
          };
          return Number(set.seq.$numberInt);
        });
        expect(seqs, key).toEqual(Array.from({ length: list.length }, (_, i) => i + 1));
      } else {
        const times = list.map((r) => BigInt(`0x${r.value!.changeId}`));
        for (let i = 1; i < times.length; i++) expect(times[i]! > times[i - 1]!, key).toBe(true);
      }
    }
  });
});

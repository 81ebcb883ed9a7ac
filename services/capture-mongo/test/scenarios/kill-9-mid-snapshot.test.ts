/**
 * kill-9-mid-snapshot: the capture (a child process running the built service) is killed with
 * SIGKILL while it reads a collection for the initial snapshot, and started again, up to three
 * times. Each restart reads on after the last `_id` whose records were committed, never from the
 * collection's start: the log says where it resumed, always further than before, and a
 * read_committed consumer sees every document exactly once (one `r` record per `_id`, no
 * change id twice). `CDC_KILL9_MONGO_DOCS` sets the size (default 40,000; the note's 1 M run
 * used this test with it set).
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@cdc/testkit';
import { BSON } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  consume,
  mongoClient,
  SERVERS,
  scenario,
  serviceDir,
  spawnCapture,
  waitFor,
} from './harness.ts';

const DOCS = Number(process.env.CDC_KILL9_MONGO_DOCS ?? 40_000);
const KILLS = 3;
/** Time bounds grow with the size: about a millisecond per document and step. */
const BOUND_MS = 120_000 + DOCS;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(() => {
  execFileSync('npx', ['tsc', '-b', serviceDir], { stdio: 'inherit' });
});

interface Line {
  msg: string;
  [field: string]: unknown;
}

const logLines = (file: string): Line[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Line)
    : [];

describe.each(SERVERS)('kill-9-mid-snapshot on $name', (server) => {
  const s = scenario('kill9snap17', server);
  const client = mongoClient(server.url);
  let child: ChildProcess | undefined;
  /** Every run started, so that a test that fails midway leaves none behind. */
  const started: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await cleanup(s, ['items']);
    await client.close();
  });

  it('resumes the read after the last committed _id and writes each document once', {
    timeout: 3 * BOUND_MS,
  }, async () => {
    await client.connect();
    const coll = client.db(s.db).collection('items');
    for (let from = 0; from < DOCS; from += 10_000)
      await coll.insertMany(
        Array.from({ length: Math.min(10_000, DOCS - from) }, (_, i) => ({
          _id: new BSON.ObjectId(),
          n: from + i,
          name: `item ${from + i}`,
          tags: ['a', 'b'],
        })),
        { ordered: false },
      );
    const source = s.source({ snapshotOptions: { parallelism: 1, batchSize: 500 } });
    const log = join(tmpdir(), `${s.name}.log`);
    const exited = (c: ChildProcess) =>
      new Promise<void>((r) => (c.exitCode !== null ? r() : c.once('exit', () => r())));
    // Each run serves /metrics on a port of its own; `cdc_snapshot_rows_done` counts the
    // documents whose transaction committed.
    const start = async () => {
      const port = await freePort();
      process.env.CDC__TELEMETRY__HTTP__PORT = String(port);
      const c = spawnCapture(source, log);
      started.push(c);
      delete process.env.CDC__TELEMETRY__HTTP__PORT;
      return { child: c, port };
    };
    const gauge = async (port: number, name: string): Promise<number | undefined> => {
      try {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
        return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
      } catch {
        return undefined;
      }
    };
    const finished = () => logLines(log).some((l) => l.msg === 'snapshot committed');
    let kills = 0;
    for (let k = 0; k < KILLS; k++) {
      const run = await start();
      child = run.child;
      // The gauge starts at what earlier runs committed; this run is killed once it has
      // committed 1,000 more documents of its own, a little after (early enough that the
      // snapshot is still far from done on an idle machine too).
      let base: number | undefined;
      await waitFor('the snapshot read to commit', 120_000, async () => {
        const done = await gauge(run.port, 'cdc_snapshot_rows_done');
        if (done !== undefined) base ??= done;
        return (done !== undefined && base !== undefined && done >= base + 1_000) || finished();
      });
      await sleep(Math.random() * 300);
      if (finished()) break;
      child.kill('SIGKILL');
      await exited(child);
      kills++;
    }
    const last = await start();
    child = last.child;
    await waitFor('the snapshot to finish', BOUND_MS, () =>
      logLines(log).some((l) => l.msg === 'snapshot committed'),
    );
    // What the console shows under the progress bar: the resumed run's rate, and no time left.
    expect(await gauge(last.port, 'cdc_snapshot_rows_per_second')).toBeGreaterThan(0);
    expect(await gauge(last.port, 'cdc_snapshot_eta_seconds')).toBe(0);
    const resumes = logLines(log).filter((l) => l.msg === 'snapshot of a collection resumed');
    expect(kills).toBe(KILLS);
    // Every restart after a kill reads on from where the killed run's commits got.
    expect(resumes).toHaveLength(KILLS);
    const done = resumes.map((l) => Number(l.documentsDone));
    for (let i = 1; i < done.length; i++) expect(done[i]!).toBeGreaterThan(done[i - 1]!);
    expect(done.at(-1)!).toBeLessThan(DOCS);

    const records = await consume([s.topicOf('items')], {
      expected: DOCS,
      timeoutMs: BOUND_MS,
      settleMs: 3000,
    });
    child.kill('SIGTERM');
    await exited(child);
    const reads = records.filter((r) => r.value?.op === 'r');
    expect(reads.length).toBe(DOCS);
    expect(new Set(reads.map((r) => r.key!.id)).size).toBe(DOCS);
    expect(new Set(reads.map((r) => r.value!.changeId)).size).toBe(DOCS);
  });
});

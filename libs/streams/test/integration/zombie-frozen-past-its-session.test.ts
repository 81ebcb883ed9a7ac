/**
 * The zombie that exactly_once_v2 fences by group generation: an instance frozen (SIGSTOP) while
 * input flows, for longer than its consumer session and its transaction timeout, so that the
 * group hands its tasks to the other instance and the broker aborts the transaction it left
 * open. Thawed (SIGCONT), it still holds the work it processed before the freeze and believes
 * it owns its tasks; whatever it commits now must be refused (its offsets carry the old
 * generation, its producer the old epoch), its tasks must restart from what was committed, and
 * it must go on as a member of the group rather than die.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopicsIfExist, ensureTopics } from '@cdc/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { expectedGroupCounts } from './grouped-count-topology.ts';
import { type InputRecord, localKafka, produce, readTopic, runId } from './helpers.ts';
import { lastCounts, WINDOW_MS } from './windowed-count-topology.ts';

const run = runId();
const input = `it.streams.zombie.in.${run}`;
const output = `it.streams.zombie.out.${run}`;
const appId = `it-streams-zombie-${run}`;
const kafka = localKafka(appId);
let stateDir = '';
const children: ChildProcess[] = [];

interface Instance {
  child: ChildProcess;
  /** Its log lines (JSON), for the assertions' messages. */
  log: string[];
}

function startInstance(name: string): Promise<Instance> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'run-windowed-count.ts')], {
    env: {
      ...process.env,
      BROKERS: localEndpoints().kafka.brokers[0],
      APP_ID: appId,
      INPUT: input,
      OUTPUT: output,
      TOPOLOGY: 'grouped',
      STATE_DIR: join(stateDir, name),
      STREAMS_IT_LOG: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const log: string[] = [];
  const keep = (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.trim() !== '') log.push(line);
  };
  child.stderr?.on('data', keep);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance ${name} did not start in 30 s`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      keep(d);
      if (log.includes('running')) {
        clearTimeout(timer);
        resolve({ child, log });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance ${name} exited with ${code} before starting`));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    }
  }
  const admin = kafka.admin();
  await admin.connect();
  await deleteTopicsIfExist(admin, [
    input,
    output,
    `${appId}-by-group-repartition`,
    `${appId}-group-counts-changelog`,
  ]);
  await admin.deleteGroups([appId]).catch(() => {});
  await admin.disconnect();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('zombie-frozen-past-its-session', () => {
  it('an instance frozen past its session and transaction timeout, then thawed, commits nothing twice and goes on: the grouped count ends exactly equal to a count of the input', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-zombie-'));
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      { topic: input, numPartitions: 2 },
      { topic: output, numPartitions: 1 },
    ]);
    await admin.disconnect();

    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 20 * WINDOW_MS;
    const sent: InputRecord[] = [];
    let producing = true;
    // Input arrives the whole time, so that the frozen instance holds processed, uncommitted
    // work (and, as often as not, an open transaction) when it stops.
    const producer = (async () => {
      for (let i = 0; producing; ) {
        const chunk = Array.from({ length: 50 }, () => {
          const n = i++;
          return { key: `u${n % 40}`, value: `g${(n * 7) % 11}`, timestamp: base + (n % 600) * 1_000 };
        });
        await produce(kafka, input, chunk);
        sent.push(...chunk);
        await sleep(50);
      }
    })();

    const zombie = await startInstance('a');
    const other = await startInstance('b');
    await sleep(3_000);
    zombie.child.kill('SIGSTOP');
    // Past its 6 s session (the group moves its tasks to the other instance) and the 10 s
    // transaction timeout (the broker aborts what it left open and bumps its producer's epoch).
    await sleep(15_000);
    zombie.child.kill('SIGCONT');
    await sleep(10_000);
    producing = false;
    await producer;

    const expected = expectedGroupCounts(sent);
    // Every input record yields exactly one committed update: one committed twice (by the
    // zombie and by the instance that took its tasks over) shows up as an extra one.
    const out = await readTopic(kafka, output, (r) => r.length >= sent.length, 60_000);
    await sleep(2_000);
    const settled = await readTopic(kafka, output, (r) => r.length >= out.length, 20_000);
    const alive = zombie.child.exitCode === null && zombie.child.signalCode === null;
    const tail = zombie.log.slice(-15).join('\n');
    for (const i of [zombie, other]) i.child.kill('SIGKILL');
    expect(alive, `the thawed instance died; its last log lines:\n${tail}`).toBe(true);
    const logs = `thawed instance:\n${tail}\nother instance:\n${other.log.slice(-15).join('\n')}`;
    expect(settled.length, `committed updates against inputs; the instances' last log lines:\n${logs}`).toBe(
      sent.length,
    );
    expect(lastCounts(settled)).toEqual(expected);
  });
});

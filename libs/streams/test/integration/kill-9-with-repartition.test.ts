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
const input = `it.streams.kill9r.in.${run}`;
const output = `it.streams.kill9r.out.${run}`;
const appId = `it-streams-kill9r-${run}`;
const kafka = localKafka(appId);
const KILLS = 3;
let stateDir = '';
const children: ChildProcess[] = [];

function startInstance(name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'run-windowed-count.ts')], {
    env: {
      ...process.env,
      BROKERS: localEndpoints().kafka.brokers[0],
      APP_ID: appId,
      INPUT: input,
      OUTPUT: output,
      TOPOLOGY: 'grouped',
      // one state folder per instance, as on separate machines
      STATE_DIR: join(stateDir, name),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance ${name} did not start in 30 s`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('running')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance ${name} exited with ${code} before starting`));
    });
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
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

describe('kill-9-with-repartition', () => {
  it(`a count grouped through a repartition topic, over two instances of which one is killed ${KILLS} times at random moments, ends exactly equal to a count of the input`, async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-kill9r-'));
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
    // Input keeps arriving the whole time, so that every kill lands while transactions are open
    // on the repartition topic, the changelog and the output.
    const producer = (async () => {
      for (let i = 0; producing; ) {
        const chunk = Array.from({ length: 100 }, () => {
          const n = i++;
          return { key: `u${n % 40}`, value: `g${(n * 7) % 11}`, timestamp: base + (n % 600) * 1_000 };
        });
        await produce(kafka, input, chunk);
        sent.push(...chunk);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    let instances = [await startInstance('a0'), await startInstance('b0')];
    for (let k = 0; k < KILLS; k++) {
      // After a kill the group waits out the dead member's 6 s session before it reassigns its
      // tasks; the next kill comes once they had time to restore and process.
      const settle = k === 0 ? 1_000 : 7_000;
      await new Promise((r) => setTimeout(r, settle + Math.floor(Math.random() * 2_500)));
      const victim = Math.random() < 0.5 ? 0 : 1;
      await kill9(instances[victim] as ChildProcess);
      const replacement = await startInstance(`r${k}`);
      instances =
        victim === 0
          ? [replacement, instances[1] as ChildProcess]
          : [instances[0] as ChildProcess, replacement];
    }
    producing = false;
    await producer;

    const expected = expectedGroupCounts(sent);
    // every input record yields exactly one committed update: a doubled record shows up as an
    // extra one, a lost one (or a stalled repartition partition) as a missing one
    const out = await readTopic(kafka, output, (r) => r.length >= sent.length, 60_000);
    await new Promise((r) => setTimeout(r, 2_000));
    const settled = await readTopic(kafka, output, (r) => r.length >= out.length, 20_000);
    for (const c of instances) await kill9(c);
    expect(settled.length).toBe(sent.length);
    expect(lastCounts(settled)).toEqual(expected);
  });
});

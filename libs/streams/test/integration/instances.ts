/**
 * What the scenarios that kill or freeze streams instances share: instances in processes of
 * their own (`fixtures/run-windowed-count.ts`), input that keeps arriving meanwhile, the output
 * read once it has settled, and the topics, groups and folders removed afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Kafka } from '@cdc/kafka';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { type InputRecord, type OutputRecord, produce, readTopic } from './helpers.ts';

export interface Instance {
  child: ChildProcess;
  /** What it printed (its JSON log lines with `verbose`, its failure otherwise), for assertion messages. */
  log: string[];
}

export interface InstancesOptions {
  appId: string;
  input: string;
  output: string;
  /** `grouped`: the count through a repartition topic; default the windowed count by key. */
  topology?: 'grouped';
  /** Each instance's log lines kept (`STREAMS_IT_LOG=1` in the instance). */
  verbose?: boolean;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The instances of one scenario: started, killed, and all of them stopped at its end. */
export class Instances {
  private readonly options: InstancesOptions;
  private readonly started: Instance[] = [];

  constructor(options: InstancesOptions) {
    this.options = options;
  }

  /** Starts an instance on `stateDir` and resolves once it runs (at most 30 s). */
  start(stateDir: string, name = 'instance'): Promise<Instance> {
    const { appId, input, output, topology, verbose } = this.options;
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'run-windowed-count.ts')], {
      env: {
        ...process.env,
        BROKERS: localEndpoints().kafka.brokers[0],
        APP_ID: appId,
        INPUT: input,
        OUTPUT: output,
        STATE_DIR: stateDir,
        ...(topology ? { TOPOLOGY: topology } : {}),
        ...(verbose ? { STREAMS_IT_LOG: '1' } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const instance: Instance = { child, log: [] };
    this.started.push(instance);
    const keep = (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.trim() !== '') instance.log.push(line);
    };
    child.stderr?.on('data', keep);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start in 30 s`)), 30_000);
      child.stdout?.on('data', (d: Buffer) => {
        keep(d);
        if (instance.log.includes('running')) {
          clearTimeout(timer);
          resolve(instance);
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited with ${code} before starting:\n${tail(instance)}`));
      });
    });
  }

  /** Kills an instance with SIGKILL and waits for it to be gone. */
  kill9(instance: Instance): Promise<void> {
    const { child } = instance;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.removeAllListeners('exit');
      child.on('exit', () => resolve());
      child.kill('SIGCONT'); // a frozen one too
      child.kill('SIGKILL');
    });
  }

  /** Every instance still running, killed. */
  async killAll(): Promise<void> {
    for (const i of this.started) await this.kill9(i);
  }
}

/** Whether an instance is still running. */
export function isAlive(instance: Instance): boolean {
  return instance.child.exitCode === null && instance.child.signalCode === null;
}

/** An instance's last log lines. */
export function tail(instance: Instance, lines = 15): string {
  return instance.log.slice(-lines).join('\n');
}

/**
 * Writes `chunk` records made by `record(n)` every `pauseMs` until stopped, so that whatever the
 * scenario does to an instance lands while batches and transactions are under way.
 */
export function keepProducing(
  kafka: Kafka,
  topic: string,
  record: (n: number) => InputRecord,
  { chunk = 100, pauseMs = 100 }: { chunk?: number; pauseMs?: number } = {},
): { sent: InputRecord[]; stop: () => Promise<void> } {
  const sent: InputRecord[] = [];
  let producing = true;
  const loop = (async () => {
    for (let n = 0; producing; ) {
      const records = Array.from({ length: chunk }, () => record(n++));
      await produce(kafka, topic, records);
      sent.push(...records);
      await sleep(pauseMs);
    }
  })();
  return {
    sent,
    stop: async () => {
      producing = false;
      await loop;
    },
  };
}

/**
 * The output once `expected` records are in (at most `timeoutMs`) and nothing more arrived for
 * 2 s: a record committed twice shows as one too many, not hidden by an early read.
 */
export async function settledOutput(
  kafka: Kafka,
  output: string,
  expected: number,
  timeoutMs = 60_000,
): Promise<OutputRecord[]> {
  const out = await readTopic(kafka, output, (r) => r.length >= expected, timeoutMs);
  await sleep(2_000);
  return readTopic(kafka, output, (r) => r.length >= out.length, 20_000);
}

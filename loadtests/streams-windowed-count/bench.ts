/**
 * Windowed count, exactly-once, end to end: @cdc/streams against Kafka Streams (Java,
 * exactly_once_v2) on the same broker in the same run. See README.md (`streams-windowed-count/`).
 *
 *   npm run -w @cdc/loadtests bench:streams [-- --records 500000 --keys 10000 --rounds 2]
 *
 * Fills one input topic, then runs each side as its own process over it, alternating the sides,
 * each with a fresh application id (so a fresh consumer group, changelog and state folder). A
 * run is done when the application's committed consumer offsets reach the end of every input
 * partition: under exactly-once the offsets are committed in the same transaction as the
 * outputs and changelog writes, so at that moment every record is counted and its output
 * committed. Throughput = records / (done − process spawn), so start-up counts on both sides.
 * Peak RSS is the process's VmHWM from /proc/<pid>/status, read at done.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { noopLogger } from '@cdc/core';
import {
  type Admin,
  createIdempotentProducer,
  createKafka,
  deleteTopicsIfExist,
  ensureTopics,
  type Kafka,
  KafkaConfigSchema,
} from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import { median } from '../lib/median.ts';
import { cpuSeconds } from '../lib/proc-stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  allowNegative: true,
  options: {
    records: { type: 'string', default: '500000' },
    keys: { type: 'string', default: '10000' },
    partitions: { type: 'string', default: '4' },
    'span-minutes': { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    sides: { type: 'string', default: 'ts,java' },
    /** Kafka Streams' record cache (its default: 10 MiB); 0 makes it emit every update, as @cdc/streams does. */
    'java-cache-bytes': { type: 'string', default: String(10 * 1024 * 1024) },
    'run-timeout-s': { type: 'string', default: '600' },
    verify: { type: 'boolean', default: true },
    build: { type: 'boolean', default: true },
    /** Extra node flags for the TypeScript side, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
    'node-flags': { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
  },
});
const RECORDS = Number(values.records);
const KEYS = Number(values.keys);
const PARTITIONS = Number(values.partitions);
const SPAN_MS = Number(values['span-minutes']) * 60_000;
const ROUNDS = Number(values.rounds);
const SIDES = values.sides.split(',') as Side[];
const RUN_TIMEOUT_MS = Number(values['run-timeout-s']) * 1000;
/** No record is late: the grace covers the whole span. */
const GRACE_MS = SPAN_MS + 3_600_000;
const WINDOW_MS = 60_000;

type Side = 'ts' | 'java';

const brokers = localEndpoints().kafka.brokers;
for (const b of brokers) {
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$/.test(b))
    throw new Error(`this benchmark only targets a broker on this machine; ${b} is not one`);
}
const bootstrap = brokers[0] as string;
const run = randomUUID().slice(0, 8);
const prefix = `bench.streams-wc.${run}`;
const appPrefix = `bench-streams-wc-${run}`;
const input = `${prefix}.in`;
const repo = resolve(here, '../..');
const javaDir = join(here, 'java');
const m2 = join(process.env.CDC_STACK_CACHE_DIR ?? join(repo, '.stack/cache'), 'm2');

const log = (msg: string) => {
  if (!values.json) process.stderr.write(`${msg}\n`);
};

function build(): void {
  if (!values.build) return;
  log('building @cdc/streams (tsc -b) and the Kafka Streams side (mvn -q package)');
  const tsc = spawnSync('npx', ['tsc', '-b', join(repo, 'libs/streams')], {
    cwd: repo,
    stdio: ['ignore', 2, 2],
  });
  if (tsc.status !== 0) throw new Error('tsc -b libs/streams failed');
  const mvn = spawnSync('mvn', ['-B', '-q', 'package', `-Dmaven.repo.local=${m2}`], {
    cwd: javaDir,
    stdio: ['ignore', 2, 2],
  });
  if (mvn.status !== 0) throw new Error('mvn package failed (is JDK 17 and Maven installed?)');
}

const keyOf = (i: number) => `k${String((i * 7_919) % KEYS).padStart(5, '0')}`;

/** Timestamps rise evenly over the span, starting a few windows back from now. */
function timestampOf(i: number, base: number): number {
  return base + Math.floor((i * SPAN_MS) / RECORDS);
}

async function fill(kafka: Kafka, base: number): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const started = Date.now();
  try {
    const batch = 5_000;
    const inflight: Promise<unknown>[] = [];
    for (let i = 0; i < RECORDS; i += batch) {
      const messages = [];
      for (let j = i; j < Math.min(RECORDS, i + batch); j++)
        messages.push({ key: keyOf(j), value: `v${j}`, timestamp: String(timestampOf(j, base)) });
      inflight.push(producer.send({ topic: input, messages }));
      if (inflight.length >= 4) await inflight.shift();
    }
    await Promise.all(inflight);
  } finally {
    await producer.disconnect();
  }
  log(
    `filled ${input}: ${RECORDS} records, ${KEYS} keys, ${PARTITIONS} partitions in ${Date.now() - started} ms`,
  );
}

function expectedCounts(base: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < RECORDS; i++) {
    const ts = timestampOf(i, base);
    const k = `${keyOf(i)}@${ts - (ts % WINDOW_MS)}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

function peakRssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}

async function committedTotal(admin: Admin, groupId: string): Promise<number> {
  const res = await admin.fetchOffsets({ groupId, topics: [input] });
  let total = 0;
  for (const t of res) for (const p of t.partitions) total += Math.max(0, Number(p.offset));
  return total;
}

function spawnSide(
  side: Side,
  output: string,
  appId: string,
  stateDir: string,
  logFile: string,
): ChildProcess {
  const out = createWriteStream(logFile);
  const child =
    side === 'ts'
      ? spawn(
          process.execPath,
          [
            ...values['node-flags'].split(' ').filter(Boolean),
            join(here, 'ts/windowed-count.ts'),
            bootstrap,
            input,
            output,
            appId,
            stateDir,
            String(GRACE_MS),
          ],
          { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] },
        )
      : spawn(
          'java',
          [
            '-cp',
            `${join(javaDir, 'target/classes')}:${join(javaDir, 'target/lib/*')}`,
            'cdc.bench.WindowedCount',
            bootstrap,
            input,
            output,
            appId,
            stateDir,
            String(GRACE_MS),
            values['java-cache-bytes'],
          ],
          { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] },
        );
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/** Reads an output topic read_committed to its end; the last count per `<key>@<windowStart>`. */
async function lastCounts(
  kafka: Kafka,
  admin: Admin,
  topic: string,
): Promise<{ counts: Map<string, number>; records: number }> {
  const ends = await admin.fetchTopicOffsets(topic);
  const consumer = kafka.consumer({
    groupId: `${appPrefix}-verify-${randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 200,
  });
  const counts = new Map<string, number>();
  const reached = new Map<number, number>();
  let records = 0;
  // Where the consumer got to, aborted records and transaction markers included: kafkajs hands a
  // batch of only those to no `eachBatch`, but reports it (its last offset) in this event. A side
  // stopped mid-transaction leaves aborted records at the end of its output; waiting for a data
  // record there waited out the whole deadline.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const next = Number(payload.lastOffset) + 1;
    if (next > (reached.get(payload.partition) ?? 0)) reached.set(payload.partition, next);
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          records += 1;
          if (m.key && m.value) counts.set(m.key.toString(), Number(m.value.toString()));
        }
      },
    });
    const deadline = Date.now() + 180_000;
    // Done when every partition is read to its end (the last offset may be a marker of its own).
    const done = () =>
      ends.every((e) => Number(e.high) === 0 || (reached.get(e.partition) ?? 0) >= Number(e.high) - 1);
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await consumer.disconnect();
  }
  return { counts, records };
}

interface Result {
  side: Side;
  round: number;
  seconds: number;
  recordsPerSecond: number;
  firstCommitSeconds: number;
  peakRssMiB: number;
  /** User + system CPU of the process (start-up included) per 100,000 input records, at done. */
  cpuSecondsPer100k: number;
  outputRecords: number | undefined;
  verified: boolean | undefined;
}

async function runSide(
  kafka: Kafka,
  admin: Admin,
  side: Side,
  round: number,
  expected: Map<string, number> | undefined,
): Promise<Result> {
  const appId = `${appPrefix}-${side}-${round}`;
  const output = `${prefix}.out.${side}.${round}`;
  await ensureTopics(admin, [{ topic: output, numPartitions: PARTITIONS }]);
  const stateDir = await mkdtemp(join(tmpdir(), `bench-streams-${side}-`));
  const logFile = join(tmpdir(), `${appId}.log`);
  const t0 = performance.now();
  const child = spawnSide(side, output, appId, stateDir, logFile);
  let failed: string | undefined;
  child.once('exit', (code, signal) => {
    failed = `${side} exited early (code ${code}, signal ${signal}); see ${logFile}`;
  });
  let firstCommit = Number.NaN;
  let seconds = Number.NaN;
  let rss = Number.NaN;
  let cpu = Number.NaN;
  try {
    while (true) {
      if (failed) throw new Error(failed);
      if (performance.now() - t0 > RUN_TIMEOUT_MS)
        throw new Error(`${side} did not finish in ${RUN_TIMEOUT_MS / 1000} s; see ${logFile}`);
      const committed = await committedTotal(admin, appId);
      if (committed > 0 && Number.isNaN(firstCommit)) firstCommit = (performance.now() - t0) / 1000;
      if (committed >= RECORDS) {
        seconds = (performance.now() - t0) / 1000;
        rss = peakRssMiB(child.pid as number);
        cpu = cpuSeconds(child.pid);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.removeAllListeners('exit');
    await stop(child);
    await rm(stateDir, { recursive: true, force: true });
  }
  let verified: boolean | undefined;
  let outputRecords: number | undefined;
  if (expected) {
    const { counts, records } = await lastCounts(kafka, admin, output);
    outputRecords = records;
    verified = counts.size === expected.size && [...expected].every(([k, n]) => counts.get(k) === n);
    if (!verified)
      log(
        `  ${side} round ${round}: output counts differ from the input's (${counts.size} windows vs ${expected.size})`,
      );
  }
  const result: Result = {
    side,
    round,
    seconds,
    recordsPerSecond: RECORDS / seconds,
    firstCommitSeconds: firstCommit,
    peakRssMiB: rss,
    cpuSecondsPer100k: Number(((cpu * 100_000) / RECORDS).toFixed(2)),
    outputRecords,
    verified,
  };
  log(
    `  ${side.padEnd(4)} round ${round}: ${seconds.toFixed(1)} s, ${Math.round(result.recordsPerSecond)} records/s, first commit at ${firstCommit.toFixed(1)} s, ${result.cpuSecondsPer100k} CPU s per 100k, peak RSS ${rss.toFixed(0)} MiB${verified === undefined ? '' : verified ? ', counts exact' : ', COUNTS WRONG'}`,
  );
  return result;
}

async function main(): Promise<void> {
  if (!existsSync(join(javaDir, 'pom.xml'))) throw new Error(`no pom.xml in ${javaDir}`);
  build();
  const kafka = createKafka(KafkaConfigSchema.parse({ brokers, clientId: appPrefix }), noopLogger);
  const admin = kafka.admin();
  await admin.connect();
  const results: Result[] = [];
  const deadline = Date.now() + ROUNDS * SIDES.length * RUN_TIMEOUT_MS + 600_000;
  try {
    await ensureTopics(admin, [{ topic: input, numPartitions: PARTITIONS }]);
    const base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - SPAN_MS - 10 * WINDOW_MS;
    await fill(kafka, base);
    const expected = values.verify ? expectedCounts(base) : undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? SIDES : [...SIDES].reverse();
      for (const side of order) {
        if (Date.now() > deadline) throw new Error('the benchmark ran past its time bound');
        results.push(await runSide(kafka, admin, side, round, expected));
      }
    }
  } finally {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix) || t.startsWith(appPrefix));
    await deleteTopicsIfExist(admin, topics).catch((err) => log(`deleting topics failed: ${err}`));
    const groups = (await admin.listGroups()).groups
      .map((g) => g.groupId)
      .filter((g) => g.startsWith(appPrefix));
    await admin.deleteGroups(groups).catch(() => {});
    await admin.disconnect();
  }
  report(results);
}

function report(results: Result[]): void {
  const sides = SIDES.map((side) => {
    const rs = results.filter((r) => r.side === side);
    return {
      side,
      recordsPerSecond: median(rs.map((r) => r.recordsPerSecond)),
      seconds: median(rs.map((r) => r.seconds)),
      peakRssMiB: Math.max(...rs.map((r) => r.peakRssMiB)),
      cpuSecondsPer100k: median(rs.map((r) => r.cpuSecondsPer100k)),
      outputRecords: rs[0]?.outputRecords,
      verified: rs.every((r) => r.verified !== false),
    };
  });
  const ts = sides.find((s) => s.side === 'ts');
  const java = sides.find((s) => s.side === 'java');
  const ratio = ts && java ? ts.recordsPerSecond / java.recordsPerSecond : Number.NaN;
  const config = {
    records: RECORDS,
    keys: KEYS,
    partitions: PARTITIONS,
    spanMinutes: SPAN_MS / 60_000,
    rounds: ROUNDS,
    javaCacheBytes: Number(values['java-cache-bytes']),
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ config, runs: results, sides, ratio }, null, 2)}\n`);
    return;
  }
  const name = { ts: '@cdc/streams', java: 'Kafka Streams 4.3.1 (Java)' };
  const lines = [
    `windowed count, 1-minute tumbling, exactly-once: ${RECORDS} records, ${KEYS} keys, ${PARTITIONS} partitions (median of ${ROUNDS} runs per side)`,
    '',
    '| side | records/s | seconds | CPU s per 100k | peak RSS (MiB) | output records | counts |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...sides.map(
      (s) =>
        `| ${name[s.side]} | ${Math.round(s.recordsPerSecond)} | ${s.seconds.toFixed(1)} | ${s.cpuSecondsPer100k} | ${s.peakRssMiB.toFixed(0)} | ${s.outputRecords ?? '-'} | ${values.verify ? (s.verified ? 'exact' : 'WRONG') : 'not checked'} |`,
    ),
    '',
    `@cdc/streams / Kafka Streams throughput ratio: ${ratio.toFixed(3)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();

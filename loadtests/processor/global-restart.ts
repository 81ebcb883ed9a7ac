/**
 * Restarting a streams application with a large global table (the processor's joined tables):
 * the first start reads the table's topic whole into its LevelDB store under the state
 * directory; a restart on the same state directory reads only what its checkpoint does not
 * hold. Each start runs in a child process (`KafkaStreams.start` to its return, which waits for
 * the global tables to be loaded), with its wall time, CPU seconds, peak RSS and the heap in use
 * after a full GC. The reference is the first start in the same run: what every start cost
 * before the tables were kept on disk.
 *
 *   node_modules/.bin/node loadtests/processor/global-restart.ts [--rows 500000] [--changed 5000] [--json]
 *
 * Between the two starts `--changed` rows are updated, so the restart has something to read.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { noopLogger } from '@cdc/core';
import {
  createIdempotentProducer,
  createKafka,
  deleteTopicsIfExist,
  ensureTopics,
  KafkaConfigSchema,
} from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import { KafkaStreams, Serdes, StreamsBuilder } from '@cdc/streams';
import { peakRssMiB as peakRss } from '../lib/proc-stats.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '500000' },
    changed: { type: 'string', default: '5000' },
    partitions: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
    // child mode
    child: { type: 'boolean', default: false },
    dir: { type: 'string' },
    table: { type: 'string' },
    input: { type: 'string' },
    app: { type: 'string' },
  },
});

const broker = localEndpoints().kafka.brokers[0] as string;
if (!/^(127\.\d+\.\d+\.\d+|localhost):\d+$/.test(broker))
  throw new Error(`this benchmark only targets a broker on this machine; ${broker} is not one`);
const kafka = createKafka(
  KafkaConfigSchema.parse({ brokers: [broker], clientId: 'bench-global' }),
  noopLogger,
);

interface StartResult {
  ms: number;
  cpuSeconds: number;
  peakRssMiB: number;
  heapMiB: number;
}

if (values.child) {
  // One start: the process's own time to `start` returning, its CPU, RSS and heap.
  const builder = new StreamsBuilder();
  builder.globalTable(values.table as string, {
    keySerde: Serdes.string(),
    valueSerde: Serdes.json(),
    storeName: 'customers',
  });
  builder
    .stream<string, string>(values.input as string, {
      keySerde: Serdes.string(),
      valueSerde: Serdes.string(),
    })
    .to(`${values.input}.out`, { keySerde: Serdes.string(), valueSerde: Serdes.string() });
  const app = new KafkaStreams(builder.build(), {
    applicationId: values.app as string,
    kafka,
    stateDir: values.dir as string,
    logger: noopLogger,
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await app.start();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  (globalThis as { gc?: () => void }).gc?.();
  const heapMiB = process.memoryUsage().heapUsed / 2 ** 20;
  const peakRssMiB = peakRss(process.pid);
  await app.close();
  const result: StartResult = { ms, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB, heapMiB };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const ROWS = Number(values.rows);
const CHANGED = Math.min(Number(values.changed), ROWS);
const run = randomUUID().slice(0, 8);
const table = `bench.global.${run}.customers`;
const input = `bench.global.${run}.in`;
const app = `bench-global-${run}`;
const log = (m: string) => {
  if (!values.json) process.stderr.write(`${m}\n`);
};
const row = (i: number, version: number) => ({
  id: i,
  name: `Customer ${i}`,
  email: `customer${i}@example.com`,
  region: ['north', 'south', 'east', 'west', 'central'][i % 5],
  created_at: '2026-01-01T00:00:00Z',
  version,
});

const admin = kafka.admin();
await admin.connect();
const dir = await mkdtemp(join(tmpdir(), 'bench-global-'));
try {
  await ensureTopics(admin, [
    { topic: table, numPartitions: Number(values.partitions) },
    { topic: input, numPartitions: 1 },
    { topic: `${input}.out`, numPartitions: 1 },
  ]);
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const send = async (ids: number[], version: number) => {
    for (let i = 0; i < ids.length; i += 10_000)
      await producer.send({
        topic: table,
        messages: ids
          .slice(i, i + 10_000)
          .map((id) => ({ key: `c${id}`, value: JSON.stringify(row(id, version)) })),
      });
  };
  await send(
    Array.from({ length: ROWS }, (_, i) => i),
    1,
  );
  log(`${ROWS} rows in ${table}`);

  const here = fileURLToPath(import.meta.url);
  const start = (): Promise<StartResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--expose-gc', here, '--child', '--dir', dir, '--table', table, '--input', input, '--app', app],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.on('exit', (code) =>
        code === 0
          ? resolve(JSON.parse(out.trim()) as StartResult)
          : reject(new Error(`start exited ${code}`)),
      );
    });
  const fresh = await start();
  log(
    `first start (reads the table whole): ${Math.round(fresh.ms)} ms, ${fresh.cpuSeconds.toFixed(2)} CPU s`,
  );
  await send(
    Array.from({ length: CHANGED }, (_, i) => Math.floor((i * ROWS) / CHANGED)),
    2,
  );
  const restart = await start();
  log(
    `restart (${CHANGED} rows changed since): ${Math.round(restart.ms)} ms, ${restart.cpuSeconds.toFixed(2)} CPU s`,
  );
  const disk = Number(execFileSync('du', ['-sm', dir]).toString().split('\t')[0]);
  const result = {
    benchmark: 'global-table-restart',
    node: process.version,
    rows: ROWS,
    changed: CHANGED,
    firstStart: fresh,
    restart,
    ratio: Number((restart.ms / fresh.ms).toFixed(3)),
    cpuRatio: Number((restart.cpuSeconds / fresh.cpuSeconds).toFixed(3)),
    diskMiB: disk,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const f = (r: StartResult) =>
      `${Math.round(r.ms)} ms, ${r.cpuSeconds.toFixed(2)} CPU s, heap ${r.heapMiB.toFixed(0)} MiB, peak RSS ${r.peakRssMiB.toFixed(0)} MiB`;
    log(`| start | ${f(fresh)} |`);
    log(`| restart | ${f(restart)} |`);
    log(
      `restart / first start: ${result.ratio} (time), ${result.cpuRatio} (CPU); the state directory: ${disk} MiB`,
    );
  }
  await producer.disconnect();
} finally {
  await deleteTopicsIfExist(admin, [table, input, `${input}.out`]).catch(() => undefined);
  await admin.disconnect();
  await rm(dir, { recursive: true, force: true });
}

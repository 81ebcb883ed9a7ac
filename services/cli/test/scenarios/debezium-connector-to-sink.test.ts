/**
 * debezium-connector-to-sink: genuine Debezium topics reach ClickHouse exactly. Debezium's
 * PostgreSQL connector (Kafka Connect standalone on the local Kafka, Avro through the registry
 * with Apicurio's converter in the Confluent wire format) captures a table: snapshot, inserts,
 * updates (two in one transaction), deletes, a key deleted and inserted again. Connect is killed
 * (SIGKILL) mid-way and started again, so it writes again what it had not flushed its offsets
 * for (Debezium is at least once); the sink, versioning by `source.lsn`, applies each change
 * once, and `cdc verify` finds ClickHouse equal to PostgreSQL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  buildPackages,
  cdcCommandAsync,
  createSourceDatabase,
  dropScenario,
  freePort,
  pgOwner,
  REPO_ROOT as root,
  scenarioFiles,
  scenarioKafka,
  scenarioPipeline,
} from '@cdc/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kafkaToolsClasspath, localEndpoints } from '../../../../infra/local/src/endpoints.ts';

const ep = localEndpoints();
const id = `dbzc_${process.pid}_${Date.now().toString(36)}`;
const files = scenarioFiles('debezium-connector');
const { dir, config } = files;
let httpPort = 0;
let connectPort = 0;
// Debezium names topics <topic.prefix>.<schema>.<table>: with the prefix <name>.<db> they are
// named as the capture names them, so `cdc verify` finds the table under the source's name.
const topic = `${id}.${id}.public.accounts`;
const registryV2 = new URL('/apis/registry/v2', ep.registry.url).toString();

const cdcUser = () => pgOwner(id);

let connect: ChildProcess | undefined;
let sink: ChildProcess | undefined;
let connectLog = '';
let sinkLog = '';

function startConnect(): ChildProcess {
  const classpath = kafkaToolsClasspath();
  if (!classpath) throw new Error('Kafka Connect and Debezium are not installed: run `npm run stack -- up`');
  const child = spawn(
    'java',
    [
      '-Xmx384m',
      '-cp',
      classpath,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      join(dir, 'worker.properties'),
      join(dir, 'connector.properties'),
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (b: Buffer) => {
    connectLog = (connectLog + b.toString('utf8')).slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', (code, signal) => {
    connectLog += `\n[test] Connect exited: ${code ?? signal}\n`;
  });
  child.on('error', (err) => {
    connectLog += `\n[test] Connect did not start: ${err.message}\n`;
  });
  connectLog += '\n[test] Connect starting\n';
  return child;
}

function properties(values: Record<string, string | number>): string {
  return `${Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')}\n`;
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${ms / 1000} s\n${connectLog.slice(-3000)}`);
    await sleep(500);
  }
}

async function topicRecords(): Promise<number> {
  const admin = scenarioKafka(id).admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return 0;
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/**
 * The CLI, without blocking this process: Connect and the sink write their logs into pipes this
 * process must keep reading (a full pipe stops them).
 */
const cdc = cdcCommandAsync({ config });

async function stop(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

const dropAll = () => dropScenario(id);

beforeAll(async () => {
  const build = buildPackages('services/cli', 'services/sink-clickhouse');
  expect(build.status, build.out).toBe(0);
  httpPort = await freePort();
  connectPort = await freePort();
  await dropAll().catch(() => undefined);
  await createSourceDatabase(
    id,
    async (db) => {
      await db.query(
        'CREATE TABLE public.accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2), tier int, active boolean)',
      );
      await db.query(
        `INSERT INTO public.accounts SELECT g, 'owner ' || g, g * 10.5, g % 3, g % 2 = 0 FROM generate_series(1, 500) g`,
      );
    },
    'FOR TABLE public.accounts',
  );

  const converter = (part: 'key' | 'value') => ({
    [`${part}.converter`]: 'io.apicurio.registry.utils.converter.AvroConverter',
    [`${part}.converter.apicurio.registry.url`]: registryV2,
    [`${part}.converter.apicurio.registry.auto-register`]: 'true',
    [`${part}.converter.apicurio.registry.find-latest`]: 'true',
    // The Confluent wire format with the registry's content ids (what its ccompat API serves).
    [`${part}.converter.apicurio.registry.as-confluent`]: 'true',
    [`${part}.converter.apicurio.registry.use-id`]: 'contentId',
    // The schema id in the record (after the magic byte), not in Kafka headers.
    [`${part}.converter.apicurio.registry.headers.enabled`]: 'false',
  });
  writeFileSync(
    join(dir, 'worker.properties'),
    properties({
      'bootstrap.servers': ep.kafka.brokers[0]!,
      ...converter('key'),
      ...converter('value'),
      'offset.storage.file.filename': join(dir, 'connect.offsets'),
      'offset.flush.interval.ms': 5_000,
      listeners: `http://127.0.0.1:${connectPort}`,
      // Plugins from their service manifests: scanning the whole class path takes minutes on a busy machine.
      'plugin.discovery': 'service_load',
    }),
  );
  writeFileSync(
    join(dir, 'connector.properties'),
    properties({
      name: id,
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'tasks.max': 1,
      'plugin.name': 'pgoutput',
      'database.hostname': '127.0.0.1',
      'database.port': ep.postgres.port,
      'database.user': 'cdc',
      'database.password': 'cdc',
      'database.dbname': id,
      'topic.prefix': `${id}.${id}`,
      'slot.name': id,
      'publication.name': id,
      'publication.autocreate.mode': 'disabled',
      'table.include.list': 'public.accounts',
      'snapshot.mode': 'initial',
      'topic.creation.default.replication.factor': 1,
      'topic.creation.default.partitions': 2,
    }),
  );
  // The sink alone; the source section is what `cdc verify` compares (Debezium's slot and publication).
  writeFileSync(
    config,
    scenarioPipeline({ id, dir, httpPort, database: 'dbzc', sinkTopics: `^${id}\\.`, noOffsetsTopic: true }),
  );
}, 180_000);

afterAll(async () => {
  await stop(sink);
  await stop(connect);
  await dropAll().catch(() => undefined);
  files.remove();
}, 120_000);

it('applies a Debezium connector’s topic exactly, across a Connect crash, and verify finds it equal', {
  timeout: 300_000,
}, async () => {
  const t0 = Date.now();
  connect = startConnect();
  sink = spawn(
    process.execPath,
    ['services/cli/dist/main.js', 'run', 'sink-clickhouse', '--config', config],
    {
      cwd: root,
      env: { ...process.env, CDC__TELEMETRY__HTTP__PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const keepSink = (b: Buffer) => {
    sinkLog = (sinkLog + b.toString('utf8')).slice(-100_000);
  };
  sink.stdout?.on('data', keepSink);
  sink.stderr?.on('data', keepSink);
  await until('the snapshot in the topic', 120_000, async () => (await topicRecords()) >= 500);
  const snapshotAt = Date.now();

  const client = cdcUser();
  await client.connect();
  try {
    await client.query(
      `INSERT INTO public.accounts VALUES (1001, 'new', 1.25, 2, true), (1002, 'newer', NULL, NULL, NULL)`,
    );
    await client.query('UPDATE public.accounts SET balance = balance + 1 WHERE id % 7 = 0');
    await client.query('BEGIN');
    await client.query(`UPDATE public.accounts SET owner = 'first' WHERE id = 5`);
    await client.query(`UPDATE public.accounts SET owner = 'second', tier = 9 WHERE id = 5`);
    await client.query('COMMIT');
    await client.query('DELETE FROM public.accounts WHERE id > 480 AND id <= 500');
    await client.query('DELETE FROM public.accounts WHERE id = 1002');
    await client.query(`INSERT INTO public.accounts VALUES (1002, 'back', 2, 1, false)`);
    // Connect dies without flushing its offsets: after the restart it writes changes again (or
    // takes the snapshot again). Deletes stay before the crash: a snapshot taken again cannot
    // show a row deleted while the connector was down, to any consumer. In the topic: 2 + 1
    // inserts, 72 + 2 updates, 21 deletes each with its tombstone.
    await until('the changes in the topic', 60_000, async () => (await topicRecords()) >= 500 + 3 + 74 + 42);
    await stop(connect, 'SIGKILL');
    await client.query(`UPDATE public.accounts SET active = NOT active WHERE id BETWEEN 100 AND 120`);
    await client.query(`INSERT INTO public.accounts VALUES (1003, 'after the crash', 3, 0, true)`);
  } finally {
    await client.end();
  }
  connect = startConnect();

  const v = await cdc('verify', '--timeout', '120');
  expect(
    v.out,
    `${v.out.slice(-3000)}\nsink:\n${sinkLog.slice(-3000)}\nconnect:\n${connectLog.slice(-1500)}`,
  ).toMatch(/ok +public\.accounts +483 \/ 483 rows/);
  expect(v.status, v.out.slice(-4000)).toBe(0);
  const records = await topicRecords();
  process.stdout.write(
    `debezium-connector-to-sink: snapshot of 500 rows in the topic ${((snapshotAt - t0) / 1000).toFixed(1)} s after Connect started; ` +
      `${records} records in the topic (tombstones and the replayed ones included); verify equal ${((Date.now() - t0) / 1000).toFixed(1)} s after start\n`,
  );
});

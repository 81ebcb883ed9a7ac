/**
 * The cost of per-table transforms and quality rules on the PostgreSQL capture: the same
 * streamed workload captured without them (the reference) and with a filter, a mask and three
 * rules, in the same run.
 *
 * Four pgoutput slots are created at the same point before the workload, so every run decodes
 * the same WAL; the capture (the built service as a child process) reads one slot per run into
 * Avro Kafka topics, committed, until the slot is acknowledged to the end of the workload. Runs
 * alternate plain, transformed, transformed, plain so that machine load hits both alike. The
 * transforms keep every row (so both sides write the same records and the difference is the
 * transforms' own work): `filter: "status <> 'cancelled' and qty >= 0"`, `mask: { note: hash }`,
 * and the rules `not_null(status)`, `range(qty, 0..100)`, `in_set(status)` (action `count`).
 *
 * Reported: changes per second and CPU seconds per 100,000 changes of each side (CPU is what
 * to compare on a busy machine), and the ratios transformed / plain.
 *
 *   node loadtests/capture-transforms/bench.ts [--changes 100000] [--tx-rows 10] [--json]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { noopLogger } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, KafkaConfigSchema } from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import pg from 'pg';

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '100000' },
    'tx-rows': { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const CHANGES = Number(values.changes);
const TX_ROWS = Number(values['tx-rows']);
const ep = localEndpoints();
const root = resolve(import.meta.dirname, '../..');
const serviceMain = join(root, 'services/capture-postgres/dist/main.js');
const id = `bench_ct_${Date.now().toString(36)}`;
const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SALT = 'bench-salt-0123456789abcdef';

const COLUMNS = `id int8 PRIMARY KEY, customer_id int8 NOT NULL, status text NOT NULL, total numeric(12,2) NOT NULL,
  qty int4 NOT NULL, paid bool NOT NULL, created_at timestamptz NOT NULL, note text`;
const ROW_SQL = (g: string) =>
  `${g}, ${g} % 1000, (ARRAY['new','paid','shipped'])[1 + ${g} % 3], (${g} % 100000) / 100.0, ${g} % 7,
   ${g} % 2 = 0, timestamptz '2024-01-01' + ${g} * interval '1 second', CASE WHEN ${g} % 5 = 0 THEN NULL ELSE 'note ' || ${g} END`;

const made = {
  slots: [] as string[],
  publications: [] as string[],
  tables: [] as string[],
  topics: [] as string[],
};

async function connect(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: ep.postgres.url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** CPU time (user + system, seconds) of a running process, polled every 50 ms. */
function watchCpu(pid: number): { cpu: () => number; stop: () => void } {
  let cpu = 0;
  const read = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu = Math.max(cpu, (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // exited
    }
  };
  read();
  const timer = setInterval(read, 50);
  return {
    cpu: () => {
      read();
      return cpu;
    },
    stop: () => clearInterval(timer),
  };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)));

function transforms(table: string) {
  return {
    maskSalt: SALT,
    tables: {
      [`public.${table}`]: {
        filter: "status <> 'cancelled' and qty >= 0",
        columns: { mask: { note: 'hash' } },
        quality: [
          { rule: 'not_null', column: 'status', action: 'count' },
          { rule: 'range', column: 'qty', min: 0, max: 100, action: 'count' },
          {
            rule: 'in_set',
            column: 'status',
            values: ['new', 'paid', 'shipped', 'updated'],
            action: 'count',
          },
        ],
      },
    },
  };
}

function spawnCapture(
  name: string,
  table: string,
  slot: string,
  pub: string,
  withTransforms: boolean,
): ChildProcess {
  const p = ep.postgres;
  made.topics.push(
    `${name}.offsets`,
    `${name}.dead-letter`,
    `${name}.quarantine`,
    `${name}.${p.database}.public.${table}`,
  );
  const source = {
    name,
    connection: { host: p.host, port: p.port, database: p.database, user: p.user, password: p.password },
    publication: pub,
    slot,
    include: [table],
    snapshot: 'never',
    offsetsTopic: `${name}.offsets`,
    ...(withTransforms ? transforms(table) : {}),
  };
  const file = join(tmpdir(), `${name}.pipeline.json`);
  writeFileSync(
    file,
    JSON.stringify({
      kafka: { brokers: ep.kafka.brokers },
      registry: { url: ep.registry.url },
      sources: { postgres: [source] },
      telemetry: { http: { port: 0 } },
    }),
  );
  const out = openSync(join(tmpdir(), `${name}.log`), 'a');
  return spawn(process.execPath, [serviceMain, '--config', file], { stdio: ['ignore', out, out] });
}

interface Run {
  side: 'plain' | 'transforms';
  seconds: number;
  cpuSeconds: number;
  changesPerSecond: number;
}

async function capture(
  c: pg.Client,
  side: Run['side'],
  n: number,
  table: string,
  slot: string,
  pub: string,
  end: string,
): Promise<Run> {
  const name = `${id}_${side === 'plain' ? 'p' : 't'}${n}`;
  const child = spawnCapture(name, table, slot, pub, side === 'transforms');
  const cpu = watchCpu(child.pid!);
  let activeAt = 0;
  let cpuAtStart = 0;
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    const r = await c.query<{ active: boolean; reached: boolean }>(
      'SELECT active, confirmed_flush_lsn >= $2::pg_lsn AS reached FROM pg_replication_slots WHERE slot_name = $1',
      [slot, end],
    );
    const s = r.rows[0] ?? { active: false, reached: false };
    if (s.active && activeAt === 0) {
      activeAt = performance.now();
      cpuAtStart = cpu.cpu();
    }
    if (s.reached) break;
    if (child.exitCode !== null)
      throw new Error(`the capture exited with ${child.exitCode}; see ${tmpdir()}/${name}.log`);
    if (Date.now() > deadline) throw new Error(`the capture did not reach ${end} in 20 min`);
    await sleep(20);
  }
  const seconds = (performance.now() - activeAt) / 1000;
  const cpuSeconds = cpu.cpu() - cpuAtStart;
  child.kill('SIGTERM');
  await exited(child);
  cpu.stop();
  return {
    side,
    seconds: round(seconds),
    cpuSeconds: round(cpuSeconds),
    changesPerSecond: Math.round(CHANGES / seconds),
  };
}

async function run(c: pg.Client) {
  const table = `${id}_t`;
  const pub = `${id}_pub`;
  await c.query(`CREATE TABLE ${table} (${COLUMNS})`);
  made.tables.push(table);
  await c.query(`CREATE PUBLICATION ${pub} FOR TABLE ${table}`);
  made.publications.push(pub);
  const order: Run['side'][] = ['plain', 'transforms', 'transforms', 'plain'];
  const slots = order.map((_, i) => `${id}_s${i}`);
  for (const slot of slots) {
    made.slots.push(slot);
    await c.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  }
  const inserts = Math.ceil(CHANGES / 2);
  const updates = CHANGES - inserts;
  log(`writing ${inserts} inserts + ${updates} updates in transactions of ${TX_ROWS} rows`);
  await c.query(`DO $$ BEGIN
    FOR b IN 0 .. ${Math.ceil(inserts / TX_ROWS) - 1} LOOP
      INSERT INTO ${table} SELECT ${ROW_SQL('g')} FROM generate_series(b * ${TX_ROWS} + 1, least((b + 1) * ${TX_ROWS}, ${inserts})) g;
      COMMIT;
    END LOOP;
    FOR b IN 0 .. ${Math.ceil(updates / TX_ROWS) - 1} LOOP
      UPDATE ${table} SET status = 'updated', qty = qty + 1 WHERE id > b * ${TX_ROWS} AND id <= least((b + 1) * ${TX_ROWS}, ${updates});
      COMMIT;
    END LOOP;
  END $$`);
  const end = (await c.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
  const runs: Run[] = [];
  for (const [i, side] of order.entries()) {
    log(`capture ${i + 1}/${order.length}: ${side} …`);
    runs.push(await capture(c, side, i, table, slots[i]!, pub, end));
    // This slot's WAL is no longer needed by this run: drop it so the others do not wait on it.
    await c.query('SELECT pg_drop_replication_slot($1)', [slots[i]]).catch(() => undefined);
  }
  const sum = (side: Run['side'], f: (r: Run) => number) =>
    runs.filter((r) => r.side === side).reduce((a, r) => a + f(r), 0);
  const plainS = sum('plain', (r) => r.seconds);
  const trS = sum('transforms', (r) => r.seconds);
  const plainCpu = sum('plain', (r) => r.cpuSeconds);
  const trCpu = sum('transforms', (r) => r.cpuSeconds);
  const per100k = (cpu: number) => round((cpu / (2 * CHANGES)) * 100_000);
  const recordsInKafka: Record<string, number> = {};
  for (const [i, side] of order.entries())
    recordsInKafka[`${side}#${i}`] = await topicRecords(
      `${id}_${side === 'plain' ? 'p' : 't'}${i}.${ep.postgres.database}.public.${table}`,
    );
  return {
    benchmark: 'capture-transforms',
    node: process.version,
    changes: CHANGES,
    txRows: TX_ROWS,
    runs,
    plain: { changesPerSecond: Math.round((2 * CHANGES) / plainS), cpuSecondsPer100k: per100k(plainCpu) },
    transforms: { changesPerSecond: Math.round((2 * CHANGES) / trS), cpuSecondsPer100k: per100k(trCpu) },
    throughputRatio: round(plainS / trS),
    cpuRatio: round(trCpu / plainCpu),
    recordsInKafka,
  };
}

async function topicRecords(topic: string): Promise<number> {
  const admin = createKafka(KafkaConfigSchema.parse({ brokers: ep.kafka.brokers }), noopLogger).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, o) => n + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}

const round = (x: number) => Number(x.toFixed(3));

async function cleanup(): Promise<void> {
  const c = await connect();
  try {
    for (const slot of made.slots) {
      for (let i = 0; i < 50; i++) {
        const r = await c.query<{ pid: number | null }>(
          'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        if (r.rowCount === 0) break;
        const pid = r.rows[0]!.pid;
        if (pid) await c.query('SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
        else await c.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
        await sleep(100);
      }
    }
    for (const pub of made.publications) await c.query(`DROP PUBLICATION IF EXISTS ${pub}`);
    for (const t of made.tables) await c.query(`DROP TABLE IF EXISTS ${t}`);
  } finally {
    await c.end();
  }
  const admin = createKafka(KafkaConfigSchema.parse({ brokers: ep.kafka.brokers }), noopLogger).admin();
  await admin.connect();
  try {
    await deleteTopicsIfExist(admin, made.topics);
  } finally {
    await admin.disconnect();
  }
  for (const topic of made.topics) {
    for (const subject of [`${topic}-key`, `${topic}-value`]) {
      const u = `${ep.registry.url}/subjects/${encodeURIComponent(subject)}`;
      await fetch(u, { method: 'DELETE' }).catch(() => undefined);
      await fetch(`${u}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
    }
  }
}

execFileSync('npx', ['tsc', '-b', join(root, 'services/capture-postgres')], { stdio: 'inherit', cwd: root });
const c = await connect();
let failed = false;
try {
  const r = await run(c);
  if (values.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else
    process.stdout.write(
      `${[
        `capture-transforms (${r.node}): ${r.changes.toLocaleString('en')} changes (half inserts, half updates) in transactions of ${r.txRows}, 2 runs per side`,
        ...r.runs.map(
          (x) =>
            `  ${x.side.padEnd(10)} ${x.changesPerSecond.toLocaleString('en')} changes/s (${x.seconds} s), CPU ${x.cpuSeconds} s`,
        ),
        `  plain:      ${r.plain.changesPerSecond.toLocaleString('en')} changes/s, ${r.plain.cpuSecondsPer100k} CPU s per 100k changes`,
        `  transforms: ${r.transforms.changesPerSecond.toLocaleString('en')} changes/s, ${r.transforms.cpuSecondsPer100k} CPU s per 100k changes (filter + hash mask + 3 rules)`,
        `  throughput ratio transforms / plain: ${r.throughputRatio}; CPU ratio transforms / plain: ${r.cpuRatio}`,
        `  records in Kafka per run: ${JSON.stringify(r.recordsInKafka)}`,
      ].join('\n')}\n`,
    );
} catch (err) {
  failed = true;
  log(String(err));
} finally {
  await c.end();
  await cleanup();
}
process.exit(failed ? 1 : 0);

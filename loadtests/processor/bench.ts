/**
 * The processor (enrich + windowed aggregate, exactly-once) over demo-shaped CDC topics, against
 * a bare kafkajs consumer, a bare exactly-once consume-transform-produce loop and Kafka Streams
 * (Java, the same declarations) on the same input in the same run, each with its CPU seconds per
 * 100k changes. See README.md (`processor/`).
 *
 *   node_modules/.bin/node loadtests/processor/bench.ts [--orders 200000 --live-seconds 150]
 *
 * 1. Fills Avro CDC topics shaped like the demo's (customers, products, orders; the capture's
 *    envelope and subjects), the orders as a backlog of inserts and updates.
 * 2. References: a bare consumer (child process) reads the orders topic to its end; a bare
 *    exactly-once loop (child process) copies it, one transaction per fetched batch.
 * 2b. The Kafka Streams peer (`java/`, exactly_once_v2, child process) runs the same declarations
 *    over the same topics until its committed offsets reach the end of every orders partition;
 *    then its window states are checked against the input (`--no-verify` skips it).
 * 3. The processor (`services/processor/dist/main.js`, child process) runs the demo's processing
 *    declarations over the same topics; done = its committed offsets reach the end of every
 *    orders partition (offsets are committed in the transaction that holds the outputs and the
 *    changelogs, so every change is then aggregated and committed). records/s of each =
 *    orders records / (done − spawn): start-up counts on both sides.
 * 4. Latency: with the processor caught up, live changes at `--live-rate` per second for
 *    `--live-seconds`; the output topic stores the broker's append time; for every window that
 *    opened and closed during the live phase, latency = append time of its result − (window
 *    end + grace), the source commit time (event time = `source.tsMs`) from which the window can
 *    close, so the time from the source commit that closes a window to its emitted result.
 * Peak RSS = VmHWM of each child from /proc/<pid>/status.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  AvroSerde,
  derivePgRowSchema,
  envelopeSchema,
  keySchema,
  type PgColumn,
  type PgRowSchema,
  pgKeyFromRow,
  pgRowFromText,
  RegistryClient,
} from '@cdc/avro';
import { noopLogger } from '@cdc/core';
import {
  type Admin,
  createIdempotentProducer,
  createKafka,
  deleteTopicsIfExist,
  ensureTopics,
  type Kafka,
  KafkaConfigSchema,
  type RecordSender,
} from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { cpuSeconds, peakRssMiB } from '../lib/proc-stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const { values } = parseArgs({
  allowNegative: true,
  options: {
    orders: { type: 'string', default: '200000' },
    customers: { type: 'string', default: '5000' },
    products: { type: 'string', default: '500' },
    /** The demo's five regions; more regions give more windows to time in the live phase. */
    regions: { type: 'string', default: '5' },
    partitions: { type: 'string', default: '4' },
    /** Share of order changes that update an earlier order (status and total) rather than insert one. */
    'update-share': { type: 'string', default: '0.3' },
    /**
     * Event time (source.tsMs) of the backlog spans this many seconds, a few minutes ago. Within
     * the demo's 10 s grace no change is late however far one orders partition runs ahead of
     * another (a backlog over minutes makes changes late: counted, logged, skipped).
     */
    'span-seconds': { type: 'string', default: '8' },
    'live-seconds': { type: 'string', default: '200' },
    'live-rate': { type: 'string', default: '200' },
    'run-timeout-s': { type: 'string', default: '600' },
    build: { type: 'boolean', default: true },
    /** Also run the Kafka Streams (Java) peer on the same topics (`--no-kafka-streams` skips it). */
    'kafka-streams': { type: 'boolean', default: true },
    /** Check the processor's and Kafka Streams' window states against the input (`--no-verify` skips it). */
    verify: { type: 'boolean', default: true },
    /** Kafka Streams' record cache (its default: 10 MiB). */
    'java-cache-bytes': { type: 'string', default: String(10 * 1024 * 1024) },
    /** A folder: the processor runs with --cpu-prof there. */
    'cpu-prof': { type: 'string' },
    /** `processing.commitIntervalMs` of the processor (default: the pipeline schema's, 100). */
    'commit-interval-ms': { type: 'string' },
    /** `processing.guarantee` of the processor (default: the pipeline schema's, exactly_once_v2). */
    guarantee: { type: 'string' },
    /** `processing.threads` of the processor (stream threads in its process). */
    threads: { type: 'string', default: '1' },
    /**
     * Runs of the bare exactly-once loop; its median-rate run is the reference. The loop is bound
     * by round trips; its rate swung up to 4× within minutes (35k–137k records/s in one series)
     * while kafkajs waited 300 ms to retry a CONCURRENT_TRANSACTIONS answer (patched since), and
     * still moves with the broker's load.
     */
    'eos-runs': { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const ORDERS = Number(values.orders);
const CUSTOMERS = Number(values.customers);
const PRODUCTS = Number(values.products);
const DEMO_REGIONS = ['north', 'south', 'east', 'west', 'central'];
const REGIONS = Array.from({ length: Number(values.regions) }, (_, i) => DEMO_REGIONS[i] ?? `region-${i}`);
const PARTITIONS = Number(values.partitions);
const UPDATE_SHARE = Number(values['update-share']);
const SPAN_MS = Number(values['span-seconds']) * 1000;
const LIVE_MS = Number(values['live-seconds']) * 1000;
const LIVE_RATE = Number(values['live-rate']);
const RUN_TIMEOUT_MS = Number(values['run-timeout-s']) * 1000;
const EOS_RUNS = Math.max(1, Number(values['eos-runs']));
const WINDOW_MS = 60_000;

const ep = localEndpoints();
for (const b of ep.kafka.brokers) {
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$/.test(b))
    throw new Error(`this benchmark only targets a broker on this machine; ${b} is not one`);
}
if (!/^https?:\/\/(127\.\d+\.\d+\.\d+|localhost)[:/]/.test(ep.registry.url))
  throw new Error(`this benchmark only targets a registry on this machine; ${ep.registry.url} is not one`);
const broker = ep.kafka.brokers[0] as string;
const run = randomUUID().slice(0, 8);
const schema = 'public';
const prefix = `bench.proc.${run}`;
const topics = {
  customers: `${prefix}.${schema}.customers`,
  products: `${prefix}.${schema}.products`,
  orders: `${prefix}.${schema}.orders`,
  output: `${prefix}.agg.revenue_by_region_1m`,
};
const applicationId = `bench-proc-${run}`;
const referenceGroup = `bench-proc-bare-${run}`;
const eosGroup = `bench-proc-eos-${run}`;
const eosOut = `${prefix}.bare-eos-out`;
const ksApplicationId = `bench-proc-ks-${run}`;
const ksOut = `${prefix}.ks-out`;
const javaDir = join(here, 'java');
const m2 = join(process.env.CDC_STACK_CACHE_DIR ?? join(repo, '.stack/cache'), 'm2');
const log = (msg: string) => {
  if (!values.json) process.stderr.write(`${msg}\n`);
};

// ── The demo's tables, as the capture describes them ─────────────────────────────────────────
const T = {
  int4: { oid: 23, schema: 'pg_catalog', name: 'int4', kind: 'base' as const },
  int8: { oid: 20, schema: 'pg_catalog', name: 'int8', kind: 'base' as const },
  text: { oid: 25, schema: 'pg_catalog', name: 'text', kind: 'base' as const },
  numeric: { oid: 1700, schema: 'pg_catalog', name: 'numeric', kind: 'base' as const },
  timestamptz: { oid: 1184, schema: 'pg_catalog', name: 'timestamptz', kind: 'base' as const },
};
const numeric = (p: number, s: number) => ((p << 16) | s) + 4;
function col(name: string, type: keyof typeof T, isKey = false, typmod = -1): PgColumn {
  return { name, type: T[type], typmod, notNull: true, isKey };
}
const rs: Record<'customers' | 'products' | 'orders', PgRowSchema> = {
  customers: derivePgRowSchema({
    schema,
    name: 'customers',
    columns: [
      col('id', 'int8', true),
      col('name', 'text'),
      col('email', 'text'),
      col('region', 'text'),
      col('created_at', 'timestamptz'),
    ],
  }),
  // (the demo's products also have tags text[] and attributes jsonb; the declarations never read products)
  products: derivePgRowSchema({
    schema,
    name: 'products',
    columns: [
      col('id', 'int4', true),
      col('name', 'text'),
      col('category', 'text'),
      col('price', 'numeric', false, numeric(10, 2)),
    ],
  }),
  orders: derivePgRowSchema({
    schema,
    name: 'orders',
    columns: [
      col('id', 'int8', true),
      col('customer_id', 'int8'),
      col('status', 'text'),
      col('total', 'numeric', false, numeric(12, 2)),
      col('created_at', 'timestamptz'),
      col('updated_at', 'timestamptz'),
    ],
  }),
};
const pgTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '+00');

/** Encodes changes as capture-postgres writes them: key = primary key record, value = envelope. */
class CdcEncoder {
  private readonly serde: AvroSerde;
  private lsn = 0;
  constructor(registry: RegistryClient) {
    this.serde = new AvroSerde({ registry });
  }
  async encode(
    topic: string,
    table: keyof typeof rs,
    op: 'r' | 'c' | 'u',
    text: Record<string, string>,
    tsMs: number,
  ): Promise<{ key: Buffer; value: Buffer; timestamp: string }> {
    const r = rs[table];
    const row = pgRowFromText(
      r,
      r.columns.map((c) => text[c.column.name] ?? null),
    );
    const lsn = `0/${(++this.lsn).toString(16).toUpperCase()}`;
    const envelope = {
      before: null,
      after: row,
      source: {
        connector: 'postgresql',
        name: 'bench',
        db: 'cdc_demo',
        schema,
        table,
        lsn,
        commitLsn: lsn,
        txId: null,
        tsMs: BigInt(tsMs),
        snapshot: op === 'r' ? 'true' : 'false',
      },
      op,
      tsMs: BigInt(tsMs),
      changeId: `${topic}:${lsn}`,
    };
    const key = await this.serde.serialize(
      `${topic}-key`,
      keySchema(topic, r.keyFields),
      pgKeyFromRow(r, row),
    );
    const value = await this.serde.serialize(
      `${topic}-value`,
      envelopeSchema(topic, r.row, 'postgresql'),
      envelope,
    );
    return { key, value, timestamp: String(tsMs) };
  }
}

/** A seeded PRNG (mulberry32): the same workload on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Order changes: inserts of new orders and updates (status, total) of earlier ones. */
class OrderChanges {
  private readonly random = prng(42);
  private readonly live: { id: number; customer: number; created: number; total: string }[] = [];
  private nextId = 1;
  next(tsMs: number): { op: 'c' | 'u'; row: Record<string, string> } {
    const cents = () => (1_000 + Math.floor(this.random() * 99_000)) / 100;
    if (this.live.length > 100 && this.random() < UPDATE_SHARE) {
      const o = this.live[Math.floor(this.random() * this.live.length)] as (typeof this.live)[number];
      o.total = cents().toFixed(2);
      const status = this.random() < 0.5 ? 'paid' : 'shipped';
      return { op: 'u', row: this.row(o, status, tsMs) };
    }
    const o = {
      id: this.nextId++,
      customer: 1 + Math.floor(this.random() * CUSTOMERS),
      created: tsMs,
      total: cents().toFixed(2),
    };
    this.live.push(o);
    if (this.live.length > 20_000) this.live.splice(0, 10_000);
    return { op: 'c', row: this.row(o, 'placed', tsMs) };
  }
  private row(o: (typeof this.live)[number], status: string, tsMs: number): Record<string, string> {
    return {
      id: String(o.id),
      customer_id: String(o.customer),
      status,
      total: o.total,
      created_at: pgTime(o.created),
      updated_at: pgTime(tsMs),
    };
  }
}

/** Each customer's region, as filled. */
const customerRegions = new Map<number, string>();
function regionOf(id: number, random: () => number): string {
  const region = REGIONS[Math.floor(random() * REGIONS.length)] as string;
  customerRegions.set(id, region);
  return region;
}
/** The last version of every order of the backlog (whose event times all fall in one window). */
const backlogVersions = new Map<string, { region: string; cents: number }>();

/** Per region: the orders count and revenue (cents) of the backlog's window, from the orders' last versions. */
function expectedWindow(): Map<string, { orders: number; cents: number }> {
  const out = new Map<string, { orders: number; cents: number }>();
  for (const v of backlogVersions.values()) {
    const e = out.get(v.region) ?? { orders: 0, cents: 0 };
    e.orders += 1;
    e.cents += v.cents;
    out.set(v.region, e);
  }
  return out;
}

type WindowState = { orders: number; cents: number };

/**
 * Checks window states read from an aggregate store's changelog against `expectedWindow()`: the
 * last value of every key (`entry` turns a changelog record into its region and state, or
 * undefined for a record of another window or index), read_committed, until they match or
 * `waitMs` passed (the repartition topic may still be draining when the orders offsets are
 * committed).
 */
async function verifyChangelog(
  kafka: Kafka,
  who: string,
  topic: string,
  entry: (key: Buffer, value: Buffer | null) => { region: string; state: WindowState | null } | undefined,
  waitMs: number,
): Promise<string | undefined> {
  const expected = expectedWindow();
  const seen = new Map<string, WindowState>();
  const groupId = `bench-proc-verify-${run}-${who.replace(/\W/g, '')}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.key) return;
        const e = entry(message.key, message.value);
        if (e === undefined) return;
        if (e.state === null) seen.delete(e.region);
        else seen.set(e.region, e.state);
      },
    });
    const matches = () =>
      [...expected].every(([r, e]) => seen.get(r)?.orders === e.orders && seen.get(r)?.cents === e.cents);
    const until = Date.now() + waitMs;
    while (!matches() && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    if (matches()) return undefined;
    const show = (m: Map<string, WindowState>) =>
      [...m].map(([r, e]) => `${r} ${e.orders}/${(e.cents / 100).toFixed(2)}`).join(', ');
    return `${who}'s window states differ from the input's: expected ${show(expected)}; found ${show(seen)}`;
  } finally {
    await consumer.disconnect();
    await kafka
      .admin()
      .deleteGroups([groupId])
      .catch(() => undefined);
  }
}

/**
 * Kafka Streams' aggregate store changelog: key = group bytes + window start + sequence number;
 * value = `count<TAB>sum`, after a timestamp where the store keeps one.
 */
function verifyKafkaStreams(
  kafka: Kafka,
  windowStartMs: number,
  waitMs: number,
): Promise<string | undefined> {
  return verifyChangelog(
    kafka,
    'Kafka Streams',
    `${ksApplicationId}-revenue_by_region_1m-changelog`,
    (k, value) => {
      if (k.length < 12 || Number(k.readBigInt64BE(k.length - 12)) !== windowStartMs) return undefined;
      const region = (JSON.parse(k.subarray(0, k.length - 12).toString('utf8')) as string[])[0] as string;
      const m = value ? /(-?\d+)\t(-?\d+(?:\.\d+)?)$/.exec(value.toString('latin1')) : null;
      return m
        ? { region, state: { orders: Number(m[1]), cents: Math.round(Number(m[2]) * 100) } }
        : undefined;
    },
    waitMs,
  );
}

/**
 * The processor's aggregate store changelog (`@cdc/streams`' window store): a window's entry is
 * `[0x00][group length u32][group: JSON array text][start][end]` (times as u32 high + 2^31, u32
 * low), its value the group state as JSON (`{ n, a: [{ c }, { c, s }] }`: count, then revenue).
 */
function verifyProcessor(kafka: Kafka, windowStartMs: number, waitMs: number): Promise<string | undefined> {
  return verifyChangelog(
    kafka,
    'the processor',
    `${applicationId}-revenue_by_region_1m-changelog`,
    (k, value) => {
      if (k[0] !== 0 || k.length < 21) return undefined;
      const len = k.readUInt32BE(1);
      const start = (k.readUInt32BE(5 + len) - 2 ** 31) * 2 ** 32 + k.readUInt32BE(9 + len);
      if (start !== windowStartMs) return undefined;
      const region = (JSON.parse(k.subarray(5, 5 + len).toString('utf8')) as string[])[0] as string;
      if (value === null) return { region, state: null };
      const state = JSON.parse(value.toString('utf8')) as { a: [{ c: number }, { c: number; s: string }] };
      return { region, state: { orders: state.a[0].c, cents: Math.round(Number(state.a[1].s) * 100) } };
    },
    waitMs,
  );
}

/**
 * Sends in order, one request at a time: concurrent sends may land out of order, and an order's
 * update must follow its insert in its partition, as the capture writes them.
 */
async function sendAll(
  producer: RecordSender,
  topic: string,
  messages: { key: Buffer; value: Buffer; timestamp: string }[],
): Promise<void> {
  for (let i = 0; i < messages.length; i += 2_000)
    await producer.send({ topic, messages: messages.slice(i, i + 2_000) });
}

async function fill(kafka: Kafka, encoder: CdcEncoder, orders: OrderChanges, base: number): Promise<void> {
  const started = performance.now();
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    const random = prng(7);
    const customers = [];
    for (let id = 1; id <= CUSTOMERS; id++) {
      customers.push(
        await encoder.encode(
          topics.customers,
          'customers',
          'r',
          {
            id: String(id),
            name: `customer ${id}`,
            email: `c${id}@example.com`,
            region: regionOf(id, random),
            created_at: pgTime(base),
          },
          base - 60_000,
        ),
      );
    }
    await sendAll(producer, topics.customers, customers);
    const products = [];
    for (let id = 1; id <= PRODUCTS; id++) {
      products.push(
        await encoder.encode(
          topics.products,
          'products',
          'r',
          { id: String(id), name: `product ${id}`, category: `cat-${id % 12}`, price: `${id % 97}.99` },
          base - 60_000,
        ),
      );
    }
    await sendAll(producer, topics.products, products);
    let chunk = [];
    for (let i = 0; i < ORDERS; i++) {
      const ts = base + Math.floor((i * SPAN_MS) / ORDERS);
      const c = orders.next(ts);
      backlogVersions.set(c.row.id as string, {
        region: customerRegions.get(Number(c.row.customer_id)) as string,
        cents: Math.round(Number(c.row.total) * 100),
      });
      chunk.push(await encoder.encode(topics.orders, 'orders', c.op, c.row, ts));
      if (chunk.length >= 20_000) {
        await sendAll(producer, topics.orders, chunk);
        chunk = [];
      }
    }
    await sendAll(producer, topics.orders, chunk);
  } finally {
    await producer.disconnect();
  }
  log(
    `filled: ${CUSTOMERS} customers, ${PRODUCTS} products, ${ORDERS} order changes (${PARTITIONS} partitions) in ${Math.round(performance.now() - started)} ms`,
  );
}

async function ordersEnd(admin: Admin): Promise<Map<number, number>> {
  const ends = await admin.fetchTopicOffsets(topics.orders);
  return new Map(ends.map((e) => [e.partition, Number(e.high)]));
}

async function committedAtEnd(
  admin: Admin,
  ends: Map<number, number>,
  groupId: string = applicationId,
): Promise<boolean> {
  const [res] = await admin.fetchOffsets({ groupId, topics: [topics.orders] });
  for (const [partition, end] of ends) {
    const c = Number(res?.partitions.find((p) => p.partition === partition)?.offset ?? -1);
    if (c < end) return false;
  }
  return true;
}

const node = process.execPath;
const children: ChildProcess[] = [];

interface Reference {
  records: number;
  ms: number;
  peakRssMiB: number;
  cpuSeconds: number;
}

/** A reference child (`bare-consumer.ts`, or `bare-eos.ts` with `--out`) over the orders topic. */
async function reference(script: 'bare-consumer.ts' | 'bare-eos.ts', eosRun = 0): Promise<Reference> {
  const eos = script === 'bare-eos.ts';
  const child = spawn(
    node,
    [
      join(here, script),
      `--broker=${broker}`,
      `--topic=${topics.orders}`,
      `--group=${eos ? `${eosGroup}-${eosRun}` : referenceGroup}`,
      `--records=${ORDERS}`,
      ...(eos ? [`--out=${eosOut}`] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${script} exited with ${code}`);
  // ms: from its process start (performance.now() there) to its last record
  return JSON.parse(out.trim()) as Reference;
}

interface PeerRun {
  ms: number;
  cpuSeconds: number;
  peakRssMiB: number;
}

/**
 * The Kafka Streams peer (`java/`, exactly_once_v2) over the same topics until its committed
 * offsets reach the end of every orders partition; then stopped.
 */
async function kafkaStreams(
  kafka: Kafka,
  admin: Admin,
  ends: Map<number, number>,
  dir: string,
  windowStartMs: number,
): Promise<PeerRun> {
  const logFile = `/tmp/bench-processor-ks-${run}.log`;
  const out = createWriteStream(logFile);
  const started = performance.now();
  const child = spawn(
    'java',
    [
      '-cp',
      `${join(javaDir, 'target/classes')}:${join(javaDir, 'target/lib/*')}`,
      'cdc.bench.EnrichAggregate',
      broker,
      ep.registry.url,
      topics.customers,
      topics.orders,
      ksOut,
      ksApplicationId,
      join(dir, 'ks-state'),
      values['java-cache-bytes'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  children.push(child);
  log(`Kafka Streams started (pid ${child.pid}); log: ${logFile}`);
  try {
    while (performance.now() - started < RUN_TIMEOUT_MS) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`Kafka Streams exited early (${child.exitCode ?? child.signalCode}); see ${logFile}`);
      if (await committedAtEnd(admin, ends, ksApplicationId)) {
        const done: PeerRun = {
          ms: performance.now() - started,
          cpuSeconds: cpuSeconds(child.pid),
          peakRssMiB: peakRssMiB(child.pid),
        };
        if (values.verify) {
          const wrong = await verifyKafkaStreams(kafka, windowStartMs, 60_000);
          if (wrong) throw new Error(`${wrong}; see ${logFile}`);
          log("Kafka Streams: window states equal the input's");
        }
        return done;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Kafka Streams did not finish in ${RUN_TIMEOUT_MS / 1000} s; see ${logFile}`);
  } finally {
    await stop(child);
  }
}

function pipelineFile(dir: string): string {
  // The demo's processing declarations, on this run's topics.
  const demo = readFileSync(join(repo, 'infra/pipelines/demo.yaml'), 'utf8')
    .replaceAll('demo.${CDC_DEMO_DB:-cdc_demo}.public.', `${prefix}.${schema}.`)
    .replaceAll('demo.agg.', `${prefix}.agg.`);
  const all = (parseYaml(demo) as { processing: Record<string, unknown> }).processing;
  // The orders enrich and the revenue aggregate only (the bench fills no order_items or carts),
  // emitting on close: the latency measured is window close → emitted result.
  type Decl = { name: string } & Record<string, unknown>;
  const processing = {
    ...all,
    enrich: (all.enrich as Decl[]).filter((d) => d.name === 'orders_with_region'),
    aggregate: (all.aggregate as Decl[])
      .filter((d) => d.name === 'revenue_by_region_1m')
      .map((d) => ({ ...d, emit: 'on-close' })),
  };
  const pipeline = {
    kafka: { brokers: [broker], clientId: applicationId },
    registry: { url: ep.registry.url },
    processing: {
      ...processing,
      applicationId,
      stateDir: join(dir, 'state'),
      http: { port: 0 },
      threads: Number(values.threads),
      ...(values['commit-interval-ms'] ? { commitIntervalMs: Number(values['commit-interval-ms']) } : {}),
      ...(values.guarantee ? { guarantee: values.guarantee } : {}),
    },
    telemetry: { http: { port: 0 } },
  };
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, toYaml(pipeline));
  return file;
}

function startProcessor(dir: string): ChildProcess {
  const flags = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
  // Node/V8 flags for the processor alone (e.g. `--max-semi-space-size=32`), to try runtime settings.
  const extra = process.env.BENCH_PROCESSOR_NODE_FLAGS;
  if (extra) flags.push(...extra.split(' ').filter((f) => f !== ''));
  const logFile = `/tmp/bench-processor-${run}.log`;
  const out = createWriteStream(logFile);
  const child = spawn(
    node,
    [...flags, join(repo, 'services/processor/dist/main.js'), '--config', pipelineFile(dir)],
    {
      env: { ...process.env, CDC_LOG_LEVEL: process.env.BENCH_PROCESSOR_LOG_LEVEL ?? 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  children.push(child);
  log(`processor started (pid ${child.pid}); log: ${logFile}`);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Live changes at LIVE_RATE/s with source.tsMs = now; returns the live phase's time range. */
async function live(
  kafka: Kafka,
  encoder: CdcEncoder,
  orders: OrderChanges,
): Promise<{ from: number; to: number; sent: number }> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  const from = Date.now();
  let sent = 0;
  try {
    while (Date.now() - from < LIVE_MS) {
      const due = Math.floor(((Date.now() - from) / 1000) * LIVE_RATE);
      const messages = [];
      for (; sent < due; sent++) {
        const now = Date.now();
        const c = orders.next(now);
        messages.push(await encoder.encode(topics.orders, 'orders', c.op, c.row, now));
      }
      if (messages.length > 0) await producer.send({ topic: topics.orders, messages });
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await producer.disconnect();
  }
  log(`live phase: ${sent} changes in ${Math.round((Date.now() - from) / 1000)} s`);
  return { from, to: Date.now(), sent };
}

/** The output records' append times per window start (ms), read_committed. */
async function outputs(
  kafka: Kafka,
  until: number,
): Promise<{ group: string; windowStartMs: number; appendMs: number }[]> {
  const consumer = kafka.consumer({
    groupId: `bench-proc-read-${run}`,
    readUncommitted: false,
    maxWaitTimeInMs: 200,
  });
  const out: { group: string; windowStartMs: number; appendMs: number }[] = [];
  const keys = new AvroSerde({ registry });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: topics.output, fromBeginning: true });
    let last = Date.now();
    await consumer.run({
      eachMessage: async ({ message }) => {
        last = Date.now();
        // the output key is Avro (`outputKeySchema`: group, windowStartMs)
        const key = (await keys.deserialize(message.key)) as {
          group: string;
          windowStartMs?: number | bigint | null;
        };
        if (message.value && key.windowStartMs !== undefined && key.windowStartMs !== null)
          out.push({
            group: key.group,
            windowStartMs: Number(key.windowStartMs),
            appendMs: Number(message.timestamp),
          });
      },
    });
    while (Date.now() < until && Date.now() - last < 5_000) await new Promise((r) => setTimeout(r, 200));
  } finally {
    await consumer.disconnect();
  }
  return out;
}

async function cleanUp(kafka: Kafka): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const mine = (await admin.listTopics()).filter(
      (t) => t.startsWith(prefix) || t.startsWith(`${applicationId}-`) || t.startsWith(`${ksApplicationId}-`),
    );
    await deleteTopicsIfExist(admin, mine);
    await admin
      .deleteGroups([
        applicationId,
        ksApplicationId,
        referenceGroup,
        ...Array.from({ length: EOS_RUNS }, (_, i) => `${eosGroup}-${i}`),
        `bench-proc-read-${run}`,
      ])
      .catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
  for (const topic of Object.values(topics)) {
    for (const subject of [`${topic}-key`, `${topic}-value`]) {
      const u = `${ep.registry.url}/subjects/${encodeURIComponent(subject)}`;
      await fetch(u, { method: 'DELETE' }).catch(() => undefined);
      await fetch(`${u}?permanent=true`, { method: 'DELETE' }).catch(() => undefined);
    }
  }
}

if (values.build) {
  execFileSync('npx', ['tsc', '-b', join(repo, 'services/processor')], {
    stdio: ['ignore', 2, 2],
    cwd: repo,
  });
  if (values['kafka-streams'])
    execFileSync('mvn', ['-B', '-q', 'package', `-Dmaven.repo.local=${m2}`], {
      stdio: ['ignore', 2, 2],
      cwd: javaDir,
    });
}
const kafka = createKafka(
  KafkaConfigSchema.parse({ brokers: [broker], clientId: `bench-proc-${run}` }),
  noopLogger,
);
const registry = new RegistryClient({ url: ep.registry.url });
const dir = await mkdtemp(join(tmpdir(), 'bench-processor-'));
let failed = false;
try {
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic: topics.customers, numPartitions: 1 },
    { topic: topics.products, numPartitions: 1 },
    { topic: topics.orders, numPartitions: PARTITIONS },
    // created here so that it keeps the broker's append time (the processor writes event time)
    {
      topic: topics.output,
      numPartitions: PARTITIONS,
      config: { 'message.timestamp.type': 'LogAppendTime' },
    },
  ]);
  const encoder = new CdcEncoder(registry);
  const orders = new OrderChanges();
  const base = Math.floor((Date.now() - SPAN_MS - 3 * WINDOW_MS) / WINDOW_MS) * WINDOW_MS;
  await fill(kafka, encoder, orders, base);
  const ends = await ordersEnd(admin);

  const per100k = (cpu: number) => Number(((cpu * 100_000) / ORDERS).toFixed(2));
  const ref = await reference('bare-consumer.ts');
  const refRate = ref.records / (ref.ms / 1000);
  log(
    `bare consumer: ${ref.records} records in ${Math.round(ref.ms)} ms = ${Math.round(refRate)} rec/s, ${per100k(ref.cpuSeconds)} CPU s per 100k, peak RSS ${ref.peakRssMiB.toFixed(0)} MiB`,
  );
  await ensureTopics(admin, [{ topic: eosOut, numPartitions: PARTITIONS }]);
  const eosRuns: { run: Reference; rate: number }[] = [];
  for (let i = 0; i < EOS_RUNS; i++) {
    const run = await reference('bare-eos.ts', i);
    const rate = run.records / (run.ms / 1000);
    eosRuns.push({ run, rate });
    log(
      `bare exactly-once loop (run ${i + 1} of ${EOS_RUNS}): ${run.records} records in ${Math.round(run.ms)} ms = ${Math.round(rate)} rec/s, ${per100k(run.cpuSeconds)} CPU s per 100k, peak RSS ${run.peakRssMiB.toFixed(0)} MiB`,
    );
  }
  // The median-rate run (the lower middle one of an even count) stands for the loop.
  const middle = [...eosRuns].sort((a, b) => a.rate - b.rate)[
    (EOS_RUNS - 1) >> 1
  ] as (typeof eosRuns)[number];
  const eos = middle.run;
  const eosRate = middle.rate;

  let ks: PeerRun | undefined;
  if (values['kafka-streams']) {
    await ensureTopics(admin, [{ topic: ksOut, numPartitions: PARTITIONS }]);
    ks = await kafkaStreams(kafka, admin, ends, dir, base);
    log(
      `Kafka Streams: ${ORDERS} changes in ${Math.round(ks.ms)} ms = ${Math.round(ORDERS / (ks.ms / 1000))} rec/s, ${per100k(ks.cpuSeconds)} CPU s per 100k, peak RSS ${ks.peakRssMiB.toFixed(0)} MiB`,
    );
  }

  const spawned = performance.now();
  const processor = startProcessor(dir);
  let doneMs = Number.NaN;
  const deadline = spawned + RUN_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (processor.exitCode !== null)
      throw new Error(`the processor exited with ${processor.exitCode}; see its log`);
    if (await committedAtEnd(admin, ends)) {
      doneMs = performance.now() - spawned;
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (Number.isNaN(doneMs)) throw new Error(`the processor did not finish in ${RUN_TIMEOUT_MS / 1000} s`);
  const rssAtDone = peakRssMiB(processor.pid);
  const cpuAtDone = cpuSeconds(processor.pid);
  const rate = ORDERS / (doneMs / 1000);
  log(
    `processor: ${ORDERS} changes in ${Math.round(doneMs)} ms = ${Math.round(rate)} rec/s, ${per100k(cpuAtDone)} CPU s per 100k, peak RSS ${rssAtDone.toFixed(0)} MiB`,
  );
  if (values.verify) {
    const wrong = await verifyProcessor(kafka, base, 60_000);
    if (wrong) throw new Error(`${wrong}; see the processor log`);
    log("processor: window states equal the input's");
  }
  log(
    `ratios: processor / bare exactly-once loop ${(rate / eosRate).toFixed(3)} (CPU per record ${(cpuAtDone / eos.cpuSeconds).toFixed(2)}×), processor / bare consumer ${(rate / refRate).toFixed(3)}${ks ? `, processor / Kafka Streams ${(rate / (ORDERS / (ks.ms / 1000))).toFixed(3)} (CPU per record ${(cpuAtDone / ks.cpuSeconds).toFixed(2)}×)` : ''}`,
  );

  let latency: Record<string, number> | undefined;
  if (LIVE_MS > 0) {
    const cpuBefore = cpuSeconds(processor.pid);
    const { from, to, sent } = await live(kafka, encoder, orders);
    // The processor's CPU while changes arrive at a steady rate: per change, what a user running
    // it caught up pays (commits every commitIntervalMs, fetches of a few records, heartbeats).
    const liveCpuPer100k = Number((((cpuSeconds(processor.pid) - cpuBefore) * 100_000) / sent).toFixed(2));
    log(`processor CPU during the live phase: ${liveCpuPer100k} CPU s per 100k changes (${sent} changes)`);
    const grace = 10_000; // the demo's declaration: window 1m, grace 10s
    // windows that opened after the live phase began and could close (end + grace) before it ended
    const firstStart = Math.ceil(from / WINDOW_MS) * WINDOW_MS;
    const results = (await outputs(kafka, Date.now() + 60_000)).filter(
      (o) => o.windowStartMs >= firstStart && o.windowStartMs + WINDOW_MS + grace <= to - 1_000,
    );
    // The first result of each window: a late change (an update of an order whose window closed)
    // amends a closed window and emits it again; those re-emissions are not window-close latency.
    const first = new Map<string, number>();
    for (const o of results) {
      const k = `${o.group}@${o.windowStartMs}`;
      first.set(
        k,
        Math.min(
          first.get(k) ?? Number.POSITIVE_INFINITY,
          o.appendMs - (o.windowStartMs + WINDOW_MS + grace),
        ),
      );
    }
    const lat = [...first.values()].sort((a, b) => a - b);
    if (lat.length === 0 && to - from >= 2 * WINDOW_MS + grace)
      throw new Error('the live phase gave no window result to time (see the processor log)');
    latency = {
      liveChanges: sent,
      liveRatePerSecond: LIVE_RATE,
      liveCpuSecondsPer100k: liveCpuPer100k,
      windows: lat.length,
      p50Ms: quantile(lat, 0.5),
      p99Ms: quantile(lat, 0.99),
      maxMs: lat.at(-1) ?? Number.NaN,
    };
    log(
      `latency (window close → emitted, ${lat.length} results): p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms`,
    );
  }
  const rssEnd = peakRssMiB(processor.pid);
  await stop(processor);
  const result = {
    benchmark: 'processor',
    node: process.version,
    orders: ORDERS,
    partitions: PARTITIONS,
    threads: Number(values.threads),
    customers: CUSTOMERS,
    regions: REGIONS.length,
    reference: {
      recordsPerSecond: Math.round(refRate),
      ms: Math.round(ref.ms),
      cpuSecondsPer100k: per100k(ref.cpuSeconds),
      peakRssMiB: Math.round(ref.peakRssMiB),
    },
    exactlyOnceReference: {
      recordsPerSecond: Math.round(eosRate),
      /** Every run's rate, in order; `recordsPerSecond` is their median. */
      runsRecordsPerSecond: eosRuns.map((r) => Math.round(r.rate)),
      ms: Math.round(eos.ms),
      cpuSecondsPer100k: per100k(eos.cpuSeconds),
      peakRssMiB: Math.round(eos.peakRssMiB),
    },
    processor: {
      recordsPerSecond: Math.round(rate),
      ms: Math.round(doneMs),
      cpuSecondsPer100k: per100k(cpuAtDone),
      peakRssMiBAtDone: Math.round(rssAtDone),
      peakRssMiB: Math.round(rssEnd),
    },
    kafkaStreams: ks && {
      recordsPerSecond: Math.round(ORDERS / (ks.ms / 1000)),
      ms: Math.round(ks.ms),
      cpuSecondsPer100k: per100k(ks.cpuSeconds),
      peakRssMiB: Math.round(ks.peakRssMiB),
      windowStatesVerified: values.verify,
    },
    ratio: Number((rate / refRate).toFixed(3)),
    ratioToExactlyOnce: Number((rate / eosRate).toFixed(3)),
    ratioToKafkaStreams: ks && Number((rate / (ORDERS / (ks.ms / 1000))).toFixed(3)),
    latency,
  };
  process.stdout.write(`${JSON.stringify(result, null, values.json ? 0 : 2)}\n`);
  await admin.disconnect();
} catch (err) {
  failed = true;
  process.stderr.write(`benchmark failed: ${String((err as Error)?.stack ?? err)}\n`);
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cleanUp(kafka).catch((err) => process.stderr.write(`clean-up failed: ${String(err)}\n`));
  await rm(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

import { AvroSerde, type PgRowSchema, type RegistryClient } from '@cdc/avro';
import { deleteTopicsIfExist, ensureTopics, type Kafka } from '@cdc/kafka';
import { type ProcessingSection, ProcessingSectionSchema } from '@cdc/pipeline';
import pg from 'pg';
import { fromAvroBytes, toText } from '../src/decimal.ts';
import { partitionOf } from '../src/interactive-queries.ts';
import { canonicalKey } from '../src/plain-value.ts';
import { CdcWriter, drained, endpoints, SHOP_DDL, shopRelations } from './helpers.ts';

export const WINDOW_MS = 60_000;
const PARTITIONS = 2;

/** A seeded PRNG (mulberry32), so that a failure can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Regions whose group keys cover every partition of the aggregate's repartition topic. */
function regionsCoveringPartitions(): string[] {
  const out: string[] = [];
  const seen = new Set<number>();
  for (const r of ['eu', 'us', 'apac', 'latam', 'mea', 'nordics', 'dach', 'iberia']) {
    out.push(r);
    seen.add(partitionOf(canonicalKey([r]), PARTITIONS));
    if (out.length >= 4 && seen.size === PARTITIONS) break;
  }
  return out;
}

/**
 * The shop on PostgreSQL and in Kafka: tables in a schema of its own, CDC topics written as the
 * capture would, random order changes applied to both, and the SQL reference for the closed
 * windows.
 */
export class ShopScenario {
  readonly run: string;
  readonly schema: string;
  readonly topics: { customers: string; products: string; orders: string; revenue: string };
  readonly applicationId: string;
  readonly regions = regionsCoveringPartitions();
  readonly base = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - 30 * WINDOW_MS;
  private readonly rs: Record<'customers' | 'products' | 'orders', PgRowSchema>;
  private readonly kafka: Kafka;
  private readonly registry: RegistryClient;
  private readonly writer: CdcWriter;
  readonly db = new pg.Client({ connectionString: endpoints.postgres.url });
  private readonly live = new Set<number>();
  private nextId = 1;
  changes = 0;

  constructor(run: string, kafka: Kafka, registry: RegistryClient) {
    this.run = run;
    this.schema = `it_proc_${run}`;
    const prefix = `it.proc.${run}`;
    this.topics = {
      customers: `${prefix}.cdc.${this.schema}.customers`,
      products: `${prefix}.cdc.${this.schema}.products`,
      orders: `${prefix}.cdc.${this.schema}.orders`,
      revenue: `${prefix}.revenue_by_region_1m`,
    };
    this.applicationId = `it-proc-${run}`;
    this.rs = shopRelations(this.schema);
    this.kafka = kafka;
    this.registry = registry;
    this.writer = new CdcWriter(kafka, registry);
  }

  section(extra: Record<string, unknown> = {}): ProcessingSection {
    return ProcessingSectionSchema.parse({
      applicationId: this.applicationId,
      http: { port: 0 },
      enrich: [
        {
          name: 'orders_enriched',
          from: this.topics.orders,
          join: [
            { table: this.topics.customers, on: 'customer_id', type: 'left', fields: ['region', 'tier'] },
            { table: this.topics.products, on: 'product_id', fields: { product_name: 'name' } },
          ],
        },
      ],
      aggregate: [
        {
          name: 'revenue_by_region_1m',
          from: 'orders_enriched',
          topic: this.topics.revenue,
          groupBy: ['region'],
          window: { type: 'tumbling', size: '1m', grace: '1h' },
          eventTime: { field: 'placed_at' },
          filter: [{ field: 'status', op: '!=', value: 'cancelled' }],
          aggregations: [
            { name: 'revenue', fn: 'sum', field: 'amount' },
            { name: 'orderCount', fn: 'count' },
            { name: 'largest', fn: 'max', field: 'amount' },
          ],
        },
      ],
      ...extra,
    });
  }

  async setUp(): Promise<void> {
    await this.db.connect();
    await this.db.query(SHOP_DDL(this.schema));
    const admin = this.kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      { topic: this.topics.customers, numPartitions: 1 },
      { topic: this.topics.products, numPartitions: 1 },
      { topic: this.topics.orders, numPartitions: PARTITIONS },
    ]);
    await admin.disconnect();
    await this.writer.connect();
    const customers = [];
    for (let id = 1; id <= 12; id++) {
      const c = {
        id: String(id),
        region: this.regions[id % this.regions.length] as string,
        tier: id % 3 ? 'silver' : 'gold',
      };
      // customer 12 exists in Kafka only for a while: orders of a missing customer have no region
      if (id === 12) continue;
      await this.db.query(`INSERT INTO ${this.schema}.customers VALUES ($1, $2, $3)`, [
        c.id,
        c.region,
        c.tier,
      ]);
      customers.push(await this.writer.encode(this.topics.customers, this.rs.customers, 'r', c, this.base));
    }
    await this.writer.send(this.topics.customers, customers);
    const products = [];
    for (let id = 1; id <= 5; id++) {
      await this.db.query(`INSERT INTO ${this.schema}.products VALUES ($1, $2)`, [id, `product ${id}`]);
      products.push(
        await this.writer.encode(
          this.topics.products,
          this.rs.products,
          'r',
          { id: String(id), name: `product ${id}` },
          this.base,
        ),
      );
    }
    await this.writer.send(this.topics.products, products);
  }

  /**
   * `count` random changes to orders, each committed to PostgreSQL and then written to Kafka:
   * inserts, updates that move an order to another customer (region) and/or minute, change its
   * amount or cancel it, and deletes. Event times stay within 10 minutes.
   */
  async randomChanges(count: number, random: () => number): Promise<void> {
    const batch = [];
    for (let i = 0; i < count; i++) {
      const r = random();
      const ids = [...this.live];
      const pick = () => ids[Math.floor(random() * ids.length)] as number;
      const order = (id: number) => ({
        id: String(id),
        customer_id: String(1 + Math.floor(random() * 12)),
        product_id: String(1 + Math.floor(random() * 5)),
        amount: (Math.floor(random() * 100_000) / 100).toFixed(2),
        placed_at: pgTime(this.base + Math.floor(random() * 10 * WINDOW_MS)),
        status: random() < 0.15 ? 'cancelled' : 'placed',
      });
      const tsMs = Date.now();
      if (r < 0.45 || ids.length === 0) {
        const o = order(this.nextId++);
        await this.db.query(
          `INSERT INTO ${this.schema}.orders VALUES ($1, $2, $3, $4, $5, $6)`,
          Object.values(o),
        );
        this.live.add(Number(o.id));
        batch.push(await this.writer.encode(this.topics.orders, this.rs.orders, 'c', o, tsMs));
      } else if (r < 0.85) {
        const o = order(pick());
        await this.db.query(
          `UPDATE ${this.schema}.orders SET customer_id = $2, product_id = $3, amount = $4, placed_at = $5, status = $6 WHERE id = $1`,
          Object.values(o),
        );
        batch.push(await this.writer.encode(this.topics.orders, this.rs.orders, 'u', o, tsMs));
      } else {
        const id = pick();
        await this.db.query(`DELETE FROM ${this.schema}.orders WHERE id = $1`, [id]);
        this.live.delete(id);
        batch.push(
          await this.writer.encode(this.topics.orders, this.rs.orders, 'd', { id: String(id) }, tsMs),
        );
      }
      this.changes++;
      if (batch.length >= 50) await this.writer.send(this.topics.orders, batch.splice(0));
    }
    await this.writer.send(this.topics.orders, batch);
  }

  /** Whether the processor has committed every order change and every repartitioned delta. */
  drainedBy(app: { state: string; error: unknown }): Promise<boolean> {
    if (app.state === 'failed') throw app.error;
    return drained(this.kafka, this.applicationId, [
      { topic: this.topics.orders, transactional: false },
      { topic: `${this.applicationId}-revenue_by_region_1m-repartition`, transactional: true },
    ]);
  }

  /** One order per region 70 minutes later (the broker refuses timestamps over an hour ahead): every partition's stream time passes every window's grace. */
  async closeWindows(): Promise<void> {
    const batch = [];
    for (let i = 0; i < this.regions.length; i++) {
      const id = 1_000_000 + i;
      const customer = [...Array(11).keys()]
        .map((k) => k + 1)
        .find((k) => k % this.regions.length === i) as number;
      const o = {
        id: String(id),
        customer_id: String(customer),
        product_id: '1',
        amount: '0.00',
        placed_at: pgTime(this.base + 70 * WINDOW_MS),
        status: 'placed',
      };
      await this.db.query(
        `INSERT INTO ${this.schema}.orders VALUES ($1, $2, $3, $4, $5, $6)`,
        Object.values(o),
      );
      batch.push(await this.writer.encode(this.topics.orders, this.rs.orders, 'c', o, Date.now()));
    }
    await this.writer.send(this.topics.orders, batch);
  }

  /** The SQL reference: `region|windowStart` → `revenue/count/max` for windows before the closing orders. */
  async reference(): Promise<Map<string, string>> {
    const { rows } = await this.db.query<{
      region: string | null;
      ws: string;
      revenue: string;
      n: string;
      largest: string;
    }>(
      `SELECT c.region, (floor(extract(epoch FROM o.placed_at) * 1000 / ${WINDOW_MS}) * ${WINDOW_MS})::bigint AS ws,
              sum(o.amount)::text AS revenue, count(*) AS n, max(o.amount)::text AS largest
         FROM ${this.schema}.orders o LEFT JOIN ${this.schema}.customers c ON c.id = o.customer_id
        WHERE o.status <> 'cancelled' AND o.placed_at < $1
        GROUP BY 1, 2`,
      [new Date(this.base + 60 * WINDOW_MS).toISOString()],
    );
    return new Map(
      rows.map((r) => [
        `${r.region}|${r.ws}`,
        `${toText(fromText(r.revenue))}/${r.n}/${toText(fromText(r.largest))}`,
      ]),
    );
  }

  /** Decodes the output topic's records: the last value per key, closed windows before the closing orders. */
  async decodeOutputs(records: { key: string; value: Buffer | null }[]): Promise<Map<string, string>> {
    const serde = new AvroSerde({ registry: this.registry });
    const last = new Map<string, Buffer | null>();
    for (const r of records) last.set(r.key, r.value);
    const out = new Map<string, string>();
    for (const [, value] of last) {
      if (value === null) continue;
      const v = (await serde.deserialize(value)) as {
        region: string | null;
        windowStartMs: bigint;
        revenue: Buffer | null;
        orderCount: bigint;
        largest: Buffer | null;
      };
      if (Number(v.windowStartMs) >= this.base + 60 * WINDOW_MS) continue;
      const dec = (b: Buffer | null) => (b === null ? 'null' : toText(fromAvroBytes(b, 2)));
      out.set(`${v.region}|${v.windowStartMs}`, `${dec(v.revenue)}/${v.orderCount}/${dec(v.largest)}`);
    }
    return out;
  }

  async tearDown(): Promise<void> {
    await this.writer.close().catch(() => {});
    await this.db.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`).catch(() => {});
    await this.db.end().catch(() => {});
    const admin = this.kafka.admin();
    await admin.connect();
    const all = await admin.listTopics();
    await deleteTopicsIfExist(
      admin,
      all.filter((t) => t.startsWith(`it.proc.${this.run}`) || t.startsWith(`${this.applicationId}-`)),
    );
    await admin.deleteGroups([this.applicationId]).catch(() => {});
    await admin.disconnect();
  }
}

function fromText(t: string) {
  const [i = '0', f = ''] = t.split('.');
  return { unscaled: BigInt(`${i}${f}`.replace('+', '')), scale: f.length };
}

/** timestamptz as PostgreSQL prints it (what pgoutput sends). */
function pgTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '+00');
}

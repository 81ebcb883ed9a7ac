/**
 * The demo shop. PostgreSQL: `customers`, `products`, `orders`, `order_items` in a database of
 * its own, generated inside the server (`INSERT … SELECT generate_series`, seeded, no round
 * trip per row), and the publication `FOR TABLES IN SCHEMA public` so that tables created
 * later are captured too. MongoDB: `carts` and `clicks`.
 */
import { resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import pg from 'pg';

export interface ShopOptions {
  /** PostgreSQL port of the local stack. */
  pgPort: number;
  /** The stack folder (the superuser is reachable through its unix socket only). */
  stackDir: string;
  database: string;
  mongoUrl: string;
  /** 1 = ~300k PostgreSQL rows; 0.01 for tests. */
  scale: number;
}

export const REGIONS = ['north', 'south', 'east', 'west', 'central'];

export function sizes(scale: number) {
  const n = (x: number) => Math.max(10, Math.round(x * scale));
  return { customers: n(20_000), products: n(2_000), orders: n(80_000), carts: n(5_000), clicks: n(20_000) };
}

function superuser(o: ShopOptions, database: string): pg.Client {
  return new pg.Client({
    host: resolve(o.stackDir, 'data/postgres/sock'),
    port: o.pgPort,
    user: 'postgres',
    database,
  });
}

export function shopClient(o: ShopOptions): pg.Client {
  return new pg.Client({
    host: '127.0.0.1',
    port: o.pgPort,
    user: 'cdc',
    password: 'cdc',
    database: o.database,
  });
}

/** Drops the demo's slot, publication and database if they exist (a fresh demo each run). */
export async function resetShop(o: ShopOptions): Promise<void> {
  const admin = superuser(o, 'postgres');
  await admin.connect();
  try {
    await admin.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
      [o.database],
    );
    await admin.query(`DROP DATABASE IF EXISTS ${o.database} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${o.database} OWNER cdc`);
  } finally {
    await admin.end();
  }
  const mongo = new MongoClient(o.mongoUrl);
  await mongo.connect();
  try {
    await mongo.db(o.database).dropDatabase();
  } finally {
    await mongo.close();
  }
}

const SCHEMA = `
CREATE TABLE customers (
  id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, region text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE products (
  id integer PRIMARY KEY, name text NOT NULL, category text NOT NULL, price numeric(10,2) NOT NULL,
  tags text[] NOT NULL DEFAULT '{}', attributes jsonb
);
CREATE TABLE orders (
  id bigint PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL,
  total numeric(12,2) NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL
);
CREATE TABLE order_items (
  order_id bigint NOT NULL, line integer NOT NULL, product_id integer NOT NULL,
  quantity integer NOT NULL, unit_price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, line)
);
CREATE SEQUENCE customers_id_seq OWNED BY customers.id;
CREATE SEQUENCE orders_id_seq OWNED BY orders.id;
`;

/** Creates and fills the shop; returns the PostgreSQL row counts. */
export async function createShop(o: ShopOptions): Promise<Record<string, number>> {
  const s = sizes(o.scale);
  const c = shopClient(o);
  await c.connect();
  try {
    await c.query(SCHEMA);
    await c.query('SELECT setseed(0.42)');
    await c.query(
      `INSERT INTO customers SELECT g, 'Customer ' || g, 'customer' || g || '@example.com',
         (ARRAY['north','south','east','west','central'])[1 + (g % 5)],
         timestamptz '2024-01-01 00:00:00+00' + (g * interval '13 minutes')
       FROM generate_series(1, $1) g`,
      [s.customers],
    );
    await c.query(
      `INSERT INTO products SELECT g, 'Product ' || g,
         (ARRAY['books','games','garden','kitchen','toys','tools'])[1 + (g % 6)],
         round((2 + random() * 198)::numeric, 2),
         ARRAY['tag' || (g % 7), 'tag' || (g % 11)],
         jsonb_build_object('weight_g', 50 + (g % 950), 'color', (ARRAY['red','green','blue'])[1 + (g % 3)])
       FROM generate_series(1, $1) g`,
      [s.products],
    );
    await c.query(
      `INSERT INTO orders SELECT g, 1 + (random() * ($2 - 1))::bigint,
         (ARRAY['new','paid','shipped','delivered'])[1 + (g % 4)], 0,
         timestamptz '2024-06-01 00:00:00+00' + (g * interval '1 minute'),
         timestamptz '2024-06-01 00:00:00+00' + (g * interval '1 minute')
       FROM generate_series(1, $1) g`,
      [s.orders, s.customers],
    );
    await c.query(
      `INSERT INTO order_items
       SELECT o.id, l, p.id, 1 + (random() * 4)::int, p.price
         FROM orders o, generate_series(1, 1 + (o.id % 4)::int) l,
              LATERAL (SELECT id, price FROM products WHERE id = 1 + ((o.id * 7 + l * 13) % $1)) p`,
      [s.products],
    );
    await c.query(
      'UPDATE orders o SET total = t.sum FROM (SELECT order_id, sum(quantity * unit_price) AS sum FROM order_items GROUP BY 1) t WHERE t.order_id = o.id',
    );
    await c.query(`SELECT setval('customers_id_seq', $1), setval('orders_id_seq', $2)`, [
      s.customers,
      s.orders,
    ]);
    await c.query('ANALYZE');
    const { rows } = await c.query<{ t: string; n: string }>(
      `SELECT 'customers' AS t, count(*)::text AS n FROM customers UNION ALL SELECT 'products', count(*)::text FROM products
       UNION ALL SELECT 'orders', count(*)::text FROM orders UNION ALL SELECT 'order_items', count(*)::text FROM order_items`,
    );
    const counts = Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
    const admin = superuser(o, o.database);
    await admin.connect();
    try {
      await admin.query(`CREATE PUBLICATION ${o.database} FOR TABLES IN SCHEMA public`);
    } finally {
      await admin.end();
    }
    const mongo = new MongoClient(o.mongoUrl);
    await mongo.connect();
    try {
      const db = mongo.db(o.database);
      const carts = Array.from({ length: s.carts }, (_x, i) => ({
        _id: `cart-${i + 1}`,
        customerId: 1 + ((i * 7) % s.customers),
        items: [{ productId: 1 + (i % s.products), quantity: 1 + (i % 3) }],
        updatedAt: new Date(Date.UTC(2024, 5, 1) + i * 60_000),
      }));
      for (let i = 0; i < carts.length; i += 2_000)
        await db.collection<(typeof carts)[number]>('carts').insertMany(carts.slice(i, i + 2_000));
      const clicks = Array.from({ length: s.clicks }, (_x, i) => ({
        session: `s-${i % Math.max(1, Math.round(s.clicks / 8))}`,
        customerId: 1 + ((i * 3) % s.customers),
        page: `/product/${1 + (i % s.products)}`,
        at: new Date(Date.UTC(2024, 5, 1) + i * 1_000),
      }));
      for (let i = 0; i < clicks.length; i += 5_000)
        await db.collection('clicks').insertMany(clicks.slice(i, i + 5_000));
      counts.carts = s.carts;
      counts.clicks = s.clicks;
    } finally {
      await mongo.close();
    }
    return counts;
  } finally {
    await c.end();
  }
}

/**
 * The change generator: inserts, updates and deletes on the demo shop at an adjustable rate
 * (changes per second, each a small transaction): new orders with their items, status and
 * price updates, cancelled orders deleted, new customers; in MongoDB new clicks and cart
 * updates. Counts what it did, so the live view can show the source side.
 */
import type { Db } from 'mongodb';
import type pg from 'pg';
import { REGIONS } from './shop.ts';

export interface GeneratorStats {
  transactions: number;
  inserts: number;
  updates: number;
  deletes: number;
  mongo: number;
  errors: number;
  lastError?: string;
}

export class ChangeGenerator {
  readonly stats: GeneratorStats = {
    transactions: 0,
    inserts: 0,
    updates: 0,
    deletes: 0,
    mongo: 0,
    errors: 0,
  };
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly pg: pg.Client;
  private readonly mongo: Db | undefined;
  private readonly rate: number;
  private readonly products: number;
  private readonly carts: number;
  private seed = 12345;

  /** `carts`: how many carts the shop has; the live cart changes spread over up to 300 of them (customers). */
  constructor(client: pg.Client, mongo: Db | undefined, rate: number, products: number, carts = 50) {
    this.pg = client;
    this.mongo = mongo;
    this.rate = rate;
    this.products = products;
    this.carts = Math.max(1, Math.min(300, carts));
  }

  private rand(): number {
    // xorshift: the same sequence on every run.
    this.seed ^= this.seed << 13;
    this.seed ^= this.seed >>> 17;
    this.seed ^= this.seed << 5;
    return ((this.seed >>> 0) % 1_000_000) / 1_000_000;
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    const tick = 100;
    let carry = 0;
    while (!this.stopped) {
      const t = Date.now();
      carry += (this.rate * tick) / 1000;
      const n = Math.floor(carry);
      carry -= n;
      for (let i = 0; i < n && !this.stopped; i++) {
        try {
          await this.one();
        } catch (err) {
          this.stats.errors++;
          this.stats.lastError = (err as Error).message;
          await this.pg.query('ROLLBACK').catch(() => undefined);
        }
      }
      await new Promise((r) => setTimeout(r, Math.max(0, tick - (Date.now() - t))));
    }
  }

  private async one(): Promise<void> {
    const r = this.rand();
    const c = this.pg;
    if (r < 0.4) {
      await c.query('BEGIN');
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO orders SELECT nextval('orders_id_seq'), 1 + (random() * (SELECT max(id) - 1 FROM customers))::bigint, 'new', 0, now(), now() RETURNING id::text`,
      );
      const id = rows[0]?.id as string;
      const lines = 1 + Math.floor(this.rand() * 3);
      for (let l = 1; l <= lines; l++) {
        const p = 1 + Math.floor(this.rand() * this.products);
        await c.query('INSERT INTO order_items SELECT $1, $2, id, $3, price FROM products WHERE id = $4', [
          id,
          l,
          1 + Math.floor(this.rand() * 4),
          p,
        ]);
      }
      await c.query(
        'UPDATE orders SET total = (SELECT coalesce(sum(quantity * unit_price), 0) FROM order_items WHERE order_id = $1) WHERE id = $1',
        [id],
      );
      await c.query('COMMIT');
      this.stats.inserts += 1 + lines;
      this.stats.updates++;
    } else if (r < 0.7) {
      await c.query(
        `UPDATE orders SET status = (ARRAY['paid','shipped','delivered'])[1 + (random() * 2)::int], updated_at = now()
          WHERE id = (SELECT max(id) FROM orders) - (random() * 500)::bigint`,
      );
      this.stats.updates++;
    } else if (r < 0.8) {
      await c.query(
        'UPDATE products SET price = round(price * (0.9 + random() * 0.2)::numeric, 2) WHERE id = $1',
        [1 + Math.floor(this.rand() * this.products)],
      );
      this.stats.updates++;
    } else if (r < 0.87) {
      await c.query('BEGIN');
      const { rows } = await c.query<{ id: string }>(
        `SELECT id::text FROM orders WHERE id = (SELECT max(id) FROM orders) - (random() * 2000)::bigint`,
      );
      if (rows[0]) {
        await c.query('DELETE FROM order_items WHERE order_id = $1', [rows[0].id]);
        await c.query('DELETE FROM orders WHERE id = $1', [rows[0].id]);
        this.stats.deletes += 2;
      }
      await c.query('COMMIT');
    } else if (r < 0.9) {
      await c.query(
        `INSERT INTO customers SELECT id, 'Customer ' || id, 'customer' || id || '@example.com', $1, now() FROM (SELECT nextval('customers_id_seq') AS id) s`,
        [REGIONS[Math.floor(this.rand() * REGIONS.length)]],
      );
      this.stats.inserts++;
    } else if (this.mongo) {
      if (r < 0.96) {
        await this.mongo.collection('clicks').insertOne({
          session: `s-live-${Math.floor(this.rand() * 200)}`,
          customerId: 1 + Math.floor(this.rand() * 1000),
          page: `/product/${1 + Math.floor(this.rand() * this.products)}`,
          at: new Date(),
        });
      } else {
        await this.mongo
          .collection('carts')
          .updateOne(
            { _id: `cart-${1 + Math.floor(this.rand() * this.carts)}` as unknown as never },
            { $set: { updatedAt: new Date() }, $inc: { 'items.0.quantity': 1 } },
          );
      }
      this.stats.mongo++;
    } else {
      return;
    }
    this.stats.transactions++;
  }
}

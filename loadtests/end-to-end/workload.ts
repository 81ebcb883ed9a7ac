/**
 * The end-to-end load: the demo shop's `customers` and `orders` tables (the shape the demo's
 * processing declarations read) and a paced writer of order changes into PostgreSQL.
 */
import type pg from 'pg';

export interface Tables {
  customers: string;
  orders: string;
}

export const REGIONS = ['north', 'south', 'east', 'west', 'central'];

/** Creates both tables and fills `customers` (captured by the initial snapshot). */
export async function createTables(c: pg.Client, t: Tables, customers: number): Promise<void> {
  await c.query(`CREATE TABLE ${t.customers} (id int8 PRIMARY KEY, name text NOT NULL, email text NOT NULL,
    region text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
  await c.query(`CREATE TABLE ${t.orders} (id int8 PRIMARY KEY, customer_id int8 NOT NULL, status text NOT NULL,
    total numeric(12,2) NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)`);
  await c.query(
    `INSERT INTO ${t.customers} (id, name, email, region)
     SELECT g, 'customer ' || g, 'c' || g || '@example.com', ($2::text[])[1 + g % $3] FROM generate_series(1, $1::int8) g`,
    [customers, REGIONS, REGIONS.length],
  );
}

export interface WriterReport {
  /** Changes written (inserts + updates), each its own row version downstream. */
  changes: number;
  inserts: number;
  updates: number;
  transactions: number;
  seconds: number;
  /** Ticks that started later than 2 × the tick interval after the previous one (the writer fell behind its pace). */
  lateTicks: number;
}

/**
 * Writes order changes at `rate` per second for `seconds`: every `tickMs`, the changes due since
 * the start, as one transaction (one statement: new orders, and updates of the status and total
 * of earlier orders, each updated once, `updateShare` of the changes). A tick that runs late
 * writes more rows, so the rate holds as long as PostgreSQL keeps up; the report says what was
 * achieved.
 */
export async function writeChanges(
  c: pg.Client,
  t: Tables,
  opts: { rate: number; seconds: number; tickMs: number; updateShare: number; customers: number },
  signal: AbortSignal,
  /** Kept up to date with the changes written so far. */
  progress: { changes: number } = { changes: 0 },
): Promise<WriterReport> {
  const started = performance.now();
  const end = started + opts.seconds * 1000;
  let changes = 0;
  let inserts = 0;
  let updates = 0;
  let transactions = 0;
  let lateTicks = 0;
  let nextId = 1;
  let nextUpdate = 1;
  let last = started;
  const sql = `WITH ins AS (
      INSERT INTO ${t.orders} (id, customer_id, status, total, created_at, updated_at)
      SELECT g, 1 + (g * 7919) % $3, 'placed', ((g * 37) % 99000 + 1000) / 100.0, now(), now()
      FROM generate_series($1::int8, $2::int8) g RETURNING 1),
    upd AS (
      UPDATE ${t.orders} SET status = 'paid', total = total + 1, updated_at = now()
      WHERE id BETWEEN $4::int8 AND $5::int8 RETURNING 1)
    SELECT (SELECT count(*) FROM ins)::int AS i, (SELECT count(*) FROM upd)::int AS u`;
  while (!signal.aborted) {
    const now = performance.now();
    if (now >= end) break;
    if (now - last > 2 * opts.tickMs) lateTicks++;
    last = now;
    const due = Math.floor(((now - started) / 1000) * opts.rate) - changes;
    if (due > 0) {
      const u = Math.min(Math.round(due * opts.updateShare), nextId - nextUpdate);
      const i = due - u;
      const r = await c.query<{ i: number; u: number }>(sql, [
        nextId,
        nextId + i - 1,
        opts.customers,
        nextUpdate,
        nextUpdate + u - 1,
      ]);
      const row = r.rows[0] as { i: number; u: number };
      nextId += i;
      nextUpdate += u;
      inserts += row.i;
      updates += row.u;
      changes += row.i + row.u;
      progress.changes = changes;
      transactions++;
    }
    const wait = opts.tickMs - (performance.now() - now);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return {
    changes,
    inserts,
    updates,
    transactions,
    seconds: (performance.now() - started) / 1000,
    lateTicks,
  };
}

/**
 * Logical replication from the stack's PostgreSQL, the way capture-postgres reads it: a
 * publication made by the table's owner (`cdc`), a `pgoutput` slot streamed by the replication
 * role, and an acknowledgement that moves the slot's `confirmed_flush_lsn`.
 * Needs `npm run stack -- up --only postgres`.
 */

import pg from 'pg';
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from 'pg-logical-replication';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../src/endpoints.ts';

const { postgres, postgresReplication } = localEndpoints();
const suffix = `${process.pid}_${Date.now()}`;
const table = `it_orders_${suffix}`;
const publication = `it_pub_${suffix}`;
const slot = `it_slot_${suffix}`;

/** Resolves with `promise`, or rejects naming `what` once `ms` has passed. */
async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: still not true after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const connect = async (url: string): Promise<pg.Client> => {
  const c = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 5000,
    statement_timeout: 10_000,
  });
  await c.connect().catch((err: Error) => {
    throw new Error(
      `PostgreSQL does not answer at ${url}: start it with npm run stack -- up --only postgres (${err.message})`,
    );
  });
  return c;
};

describe('PostgreSQL logical replication (pgoutput)', () => {
  let owner: pg.Client;
  let repl: pg.Client;

  beforeAll(async () => {
    owner = await connect(postgres.url);
    repl = await connect(postgresReplication.url);
  });

  afterAll(async () => {
    // The walsender may still be exiting after stop(): end it, then drop the slot.
    if (repl) {
      await until('slot released', 10_000, async () => {
        const r = await repl.query<{ active: boolean; pid: number | null }>(
          'SELECT active, active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        const s = r.rows[0];
        if (!s?.active) return true;
        await repl.query('SELECT pg_terminate_backend($1)', [s.pid]).catch(() => undefined);
        return false;
      }).catch(() => undefined);
      await repl
        .query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [
          slot,
        ])
        .catch(() => undefined);
      await repl.end();
    }
    if (owner) {
      await owner.query(`DROP PUBLICATION IF EXISTS ${publication}`);
      await owner.query(`DROP TABLE IF EXISTS ${table}`);
      // What this test made is gone: no slot would keep WAL around after it.
      const left = await owner.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      await owner.end();
      expect(left.rowCount).toBe(0);
    }
  });

  it('streams a Relation and an Insert with the row values, and the acknowledgement moves confirmed_flush_lsn', async () => {
    await owner.query(`CREATE TABLE ${table} (
      id integer PRIMARY KEY,
      customer text NOT NULL,
      amount numeric(10,2),
      paid boolean,
      note text
    )`);
    await owner.query(`CREATE PUBLICATION ${publication} FOR TABLE ${table}`);
    const created = await repl.query<{ lsn: string }>(
      `SELECT lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`,
      [slot],
    );
    const slotStart = created.rows[0]!.lsn;

    const service = new LogicalReplicationService(
      {
        connectionString: postgresReplication.url,
        connectionTimeoutMillis: 5000,
      },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    const messages: { lsn: string; msg: Pgoutput.Message }[] = [];
    const errors: Error[] = [];
    service.on('error', (err) => errors.push(err));
    service.on('data', (lsn: string, msg: Pgoutput.Message) => {
      messages.push({ lsn, msg });
    });
    const started = new Promise<void>((resolve) => service.once('start', () => resolve()));
    const committed = new Promise<string>((resolve) =>
      service.on('data', (lsn: string, msg: Pgoutput.Message) => {
        if (msg.tag === 'commit') resolve(lsn);
      }),
    );

    try {
      const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] });
      // subscribe() settles only when the stream ends: keep it aside, surface its failure.
      const streaming = service.subscribe(plugin, slot).catch((err: Error) => {
        errors.push(err);
      });
      await within('replication start', 10_000, started);

      await owner.query(
        `INSERT INTO ${table} (id, customer, amount, paid, note) VALUES ($1, $2, $3, $4, $5)`,
        [7, 'Zoë "quoted", ünïcode', '1234.50', true, null],
      );
      const commitLsn = await within('commit of the insert on the stream', 10_000, committed);
      expect(errors).toEqual([]);

      const tags = messages.map((m) => m.msg.tag);
      expect(tags).toEqual(['begin', 'relation', 'insert', 'commit']);

      const relation = messages[1]!.msg as Pgoutput.MessageRelation;
      expect(relation).toMatchObject({ tag: 'relation', schema: 'public', name: table, keyColumns: ['id'] });
      expect(relation.columns.map((c) => c.name)).toEqual(['id', 'customer', 'amount', 'paid', 'note']);

      const insert = messages[2]!.msg as Pgoutput.MessageInsert;
      expect(insert.relation.relationOid).toBe(relation.relationOid);
      // Values are decoded by column type: int4 and bool to JS values, numeric kept as text.
      expect(insert.new).toEqual({
        id: 7,
        customer: 'Zoë "quoted", ünïcode',
        amount: '1234.50',
        paid: true,
        note: null,
      });

      const before = await repl.query<{ lsn: string }>(
        'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      expect(before.rows[0]!.lsn).toBe(slotStart);

      expect(await service.acknowledge(commitLsn)).toBe(true);
      await until('confirmed_flush_lsn reaches the acknowledged commit', 10_000, async () => {
        const r = await repl.query<{ done: boolean }>(
          'SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
          [slot, commitLsn],
        );
        return r.rows[0]?.done === true;
      });
      const after = await repl.query<{ moved: boolean }>(
        'SELECT confirmed_flush_lsn > $2::pg_lsn AS moved FROM pg_replication_slots WHERE slot_name = $1',
        [slot, slotStart],
      );
      expect(after.rows[0]!.moved).toBe(true);

      await service.stop();
      await within('end of the replication stream', 10_000, streaming);
      expect(errors).toEqual([]);
    } finally {
      await service.destroy();
    }
  });
});

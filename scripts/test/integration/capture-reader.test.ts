/**
 * The demo's catch-up (and the scenarios' `waitCaughtUp`) reads how far the PostgreSQL capture has
 * read the source from its replication slot: against the stack's PostgreSQL, a slot behind the
 * source's WAL position, the same slot moved past it, and a slot that does not exist.
 */
import { pgOwner, pgSuperuser } from '@cdc/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureReader } from '../../demo/catch-up.ts';

const id = `capture_reader_${process.pid}`;
/** The superuser (slots), and role `cdc` as the demo reads. */
const su = pgSuperuser('postgres');
const cdc = pgOwner('postgres');

beforeAll(async () => {
  await su.connect();
  await cdc.connect();
  await su.query(
    'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
    [id],
  );
  await su.query(`DROP TABLE IF EXISTS ${id}`);
  await su.query(`CREATE TABLE ${id} (n int)`);
  await su.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [id]);
});

afterAll(async () => {
  await su.query(
    'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
    [id],
  );
  await su.query(`DROP TABLE IF EXISTS ${id}`);
  await cdc.end();
  await su.end();
});

describe('captureReader', () => {
  it('is behind until the slot has confirmed the WAL position the source had when it was made', async () => {
    // A change the slot has not confirmed: the source's position moves past the slot's.
    await su.query(`INSERT INTO ${id} VALUES (1)`);
    const read = await captureReader(cdc, id);
    const before = await read();
    expect(before.slot).toBe(id);
    expect(before.done).toBe(false);
    expect(before.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(before.target).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(before.lsn).not.toBe(before.target);

    // What a capture does when it has read and written everything: it confirms the position.
    await su.query('SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())', [id]);
    const after = await read();
    expect(after.done).toBe(true);
    expect(after.target).toBe(before.target);
  });

  it('is behind, at no position, while the slot does not exist', async () => {
    const read = await captureReader(cdc, `${id}_missing`);
    expect(await read()).toMatchObject({ slot: `${id}_missing`, lsn: null, done: false });
  });
});

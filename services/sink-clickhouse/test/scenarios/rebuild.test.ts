/**
 * rebuild: a table damaged by hand (truncated, a bogus row added) is rebuilt from its topic by
 * `main.ts rebuild <table> --config …` (the sink stopped), and the current state equals the
 * topic's again; the history holds every change once; no temporary table is left; the sink
 * then resumes on the rebuilt table. A type change the sink stops at (a decimal's scale lowered)
 * is rebuilt with the newest schema's type, whichever partition the replay reads first.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedTransport } from '@cdc/clickhouse';
import { drainPending } from 'chdb';
import { afterAll, describe, expect, it } from 'vitest';
import {
  committedOffsets,
  endpoints,
  OrdersLoad,
  ordersRelation,
  PgTopic,
  produce,
  removeDir,
  t,
  topicSize,
  unique,
  until,
} from '../helpers.ts';
import { SinkProcess, writePipeline } from '../sink-process.ts';

describe('rebuild', () => {
  const dir = mkdtempSync(join(endpoints.chdbDir, `sink-${process.pid}-rebuild-`));

  afterAll(async () => {
    await drainPending();
    removeDir(dir);
  });

  it('rebuilds a damaged table from its topic and swaps it in', { timeout: 180_000 }, async () => {
    const topic = unique('it.rebuild.orders');
    const table = topic.replace(/\W/g, '_');
    const database = unique('rebuild');
    const groupId = unique('sink-rebuild');
    const load = new OrdersLoad(topic, 5);
    await load.write(1_500, 2);
    const data = join(dir, 'data');
    const config = writePipeline(
      { dir: data, database, topics: [topic], groupId, deadLetterTopic: `${topic}.dlq` },
      join(dir, 'pipeline.yaml'),
    );
    const runSinkToEnd = async () => {
      const sink = new SinkProcess(['--config', config]);
      await sink.line('sink started');
      const total = await topicSize(topic);
      await until(
        'the sink to commit every change',
        async () =>
          (await committedOffsets(groupId, topic)).reduce((n, o) => n + Math.max(0, Number(o)), 0) === total,
      );
      expect((await sink.kill('SIGTERM')).code).toBe(0);
    };
    await runSinkToEnd();

    const state = async (ch: EmbeddedTransport) =>
      (
        await ch.query<{ id: number; customer: string }>(
          `SELECT id, customer FROM ${database}.${table}_current ORDER BY id`,
        )
      ).map((r) => ({ id: Number(r.id), customer: r.customer }));
    // The sink is stopped: this process may open its directory.
    let ch = new EmbeddedTransport(data);
    expect(await state(ch)).toEqual(load.rows());
    await ch.command(`TRUNCATE TABLE ${database}.${table}`);
    await ch.command(
      `INSERT INTO ${database}.${table} (id, customer, _version, _change_id) VALUES (999999, 'bogus', 1, 'by hand')`,
    );
    expect(await state(ch)).toEqual([{ id: 999999, customer: 'bogus' }]);
    await ch.close();
    await drainPending();

    const rebuild = new SinkProcess(['rebuild', table, '--config', config]);
    const done = await rebuild.line('table rebuilt', 120_000);
    expect(done).toMatchObject({ table, topics: [topic], records: load.produced });
    expect((await rebuild.exited).code).toBe(0);

    ch = new EmbeddedTransport(data);
    try {
      expect(await state(ch)).toEqual(load.rows());
      const [counts] = await ch.query<{ history: number; leftovers: number }>(
        `SELECT (SELECT count() FROM ${database}.${table}_history FINAL) AS history, (SELECT count() FROM system.tables WHERE database = '${database}' AND position(name, '__rebuild') > 0) AS leftovers`,
      );
      expect({ history: Number(counts?.history), leftovers: Number(counts?.leftovers) }).toEqual({
        history: load.produced,
        leftovers: 0,
      });
    } finally {
      await ch.close();
      await drainPending();
    }

    // The sink resumes on the rebuilt table: new changes arrive, the history view still feeds.
    await load.write(300, 2);
    await runSinkToEnd();
    ch = new EmbeddedTransport(data);
    try {
      expect(await state(ch)).toEqual(load.rows());
      const [h] = await ch.query<{ n: number }>(
        `SELECT count() AS n FROM ${database}.${table}_history FINAL`,
      );
      expect(Number(h?.n)).toBe(load.produced);
    } finally {
      await ch.close();
    }
  });

  it('ends with the newest schema type when a partition read after another holds only older records', {
    timeout: 180_000,
  }, async () => {
    const topic = unique('it.rebuild.narrowed');
    const table = topic.replace(/\W/g, '_');
    const database = unique('rebuild_narrowed');
    const groupId = unique('sink-rebuild-narrowed');
    const pg = new PgTopic(topic, ordersRelation());
    const created = '2024-01-01 00:00:00+00';
    // Partition 1: a row of the first schema (numeric(10,2)), written by the sink.
    const old = await pg.event('c', ['1', 'alice', '1.11', created]);
    await produce(topic, [{ ...old, partition: 1 }], 2);
    const data = join(dir, 'narrowed');
    const config = writePipeline(
      { dir: data, database, topics: [topic], groupId, deadLetterTopic: `${topic}.dlq` },
      join(dir, 'narrowed.yaml'),
    );
    const sink = new SinkProcess(['--config', config]);
    await sink.line('sink started');
    await until(
      'the sink to commit the first row',
      async () =>
        (await committedOffsets(groupId, topic)).reduce((n, o) => n + Math.max(0, Number(o)), 0) === 1,
    );
    expect((await sink.kill('SIGTERM')).code).toBe(0);
    // The scale lowered at the source (numeric(10,1)): a change the sink stops at. Partition 0,
    // which a fetch returns before partition 1, holds only rows of the new schema.
    pg.evolve({
      ...ordersRelation(),
      columns: ordersRelation().columns.map((c) =>
        c.name === 'amount' ? { ...c, type: t('numeric'), typmod: ((10 << 16) | 1) + 4 } : c,
      ),
    });
    await produce(topic, [{ ...(await pg.event('c', ['2', 'bob', '2.2', created])), partition: 0 }], 2);

    const rebuild = new SinkProcess(['rebuild', table, '--config', config]);
    await rebuild.line('table rebuilt', 120_000);
    expect((await rebuild.exited).code).toBe(0);
    const ch = new EmbeddedTransport(data);
    try {
      const rows = await ch.query<{ id: number; amount: string }>(
        `SELECT id, toString(amount) AS amount FROM ${database}.${table}_current ORDER BY id`,
      );
      // The first row cast to the new type, as PostgreSQL casts it (1.11 → 1.1).
      expect(rows.map((r) => ({ ...r, id: Number(r.id) }))).toEqual([
        { id: 1, amount: '1.1' },
        { id: 2, amount: '2.2' },
      ]);
      const types = await ch.query<{ table: string; type: string }>(
        `SELECT table, type FROM system.columns WHERE database = '${database}' AND name = 'amount' ORDER BY table`,
      );
      expect(types).toEqual([
        { table, type: 'Nullable(Decimal(10, 1))' },
        { table: `${table}_current`, type: 'Nullable(Decimal(10, 1))' },
        { table: `${table}_history`, type: 'Nullable(Decimal(10, 1))' },
        { table: `${table}_history_mv`, type: 'Nullable(Decimal(10, 1))' },
      ]);
    } finally {
      await ch.close();
      await drainPending();
    }
  });
});

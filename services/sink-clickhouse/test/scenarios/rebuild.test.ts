/**
 * rebuild: a table damaged by hand (truncated, a bogus row added) is rebuilt from its topic by
 * `main.ts rebuild <table> --config …` (the sink stopped), and the current state equals the
 * topic's again; the history holds every change once; no temporary table is left; the sink
 * then resumes on the rebuilt table.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedTransport } from '@cdc/clickhouse';
import { drainPending } from 'chdb';
import { afterAll, describe, expect, it } from 'vitest';
import { committedOffsets, endpoints, OrdersLoad, removeDir, topicSize, unique, until } from '../helpers.ts';
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
});

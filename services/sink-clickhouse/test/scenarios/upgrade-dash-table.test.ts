/**
 * upgrade-dash-table: earlier versions named the table of a topic with a `-` with `_` in its
 * place (`it.up-dash.orders` → `it_up_dash_orders`); the table is now `it_up-dash_orders`, so
 * that `up-dash` and `up_dash` never share one. A sink upgraded over a group that already wrote
 * such a topic keeps writing its older table (the earlier rows are there) and says how to make
 * that explicit; it creates no second, partial table. The plain topic whose default name that
 * table is (`it.up_dash.orders`) is then refused, naming both topics, while the other flows.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedTransport } from '@cdc/clickhouse';
import { legacyTableNameForTopic, quoteIdent, tableNameForTopic } from '@cdc/core';
import { drainPending } from 'chdb';
import { afterAll, describe, expect, it } from 'vitest';
import { committedOffsets, endpoints, OrdersLoad, removeDir, topicSize, unique, until } from '../helpers.ts';
import { SinkProcess, writePipeline } from '../sink-process.ts';

describe('upgrade-dash-table', () => {
  const dir = mkdtempSync(join(endpoints.chdbDir, `sink-${process.pid}-upgrade-dash-`));

  afterAll(async () => {
    await drainPending();
    removeDir(dir);
  });

  it('keeps writing the table an earlier version made for a dashed topic', { timeout: 180_000 }, async () => {
    const topic = unique('it.up-dash.orders');
    const legacy = legacyTableNameForTopic(topic);
    const now = tableNameForTopic(topic);
    expect(now).not.toBe(legacy);
    const database = unique('upgrade');
    const groupId = unique('sink-upgrade');
    const load = new OrdersLoad(topic, 9);
    const data = join(dir, 'data');
    const base = { dir: data, database, topics: [topic], groupId, deadLetterTopic: `${topic}.dlq` };
    const runSinkToEnd = async (config: string) => {
      const sink = new SinkProcess(['--config', config]);
      await sink.line('sink started');
      const total = await topicSize(topic);
      await until(
        'the sink to commit every change',
        async () =>
          (await committedOffsets(groupId, topic)).reduce((n, o) => n + Math.max(0, Number(o)), 0) === total,
      );
      expect((await sink.kill('SIGTERM')).code).toBe(0);
      return sink;
    };
    // The earlier version: its name for the topic's table, as an explicit entry gives it today.
    await load.write(400, 2);
    await runSinkToEnd(
      writePipeline({ ...base, tables: { [topic]: { table: legacy } } }, join(dir, 'earlier.yaml')),
    );
    // The upgrade: no entry, more changes.
    await load.write(300, 2);
    const sink = await runSinkToEnd(writePipeline(base, join(dir, 'now.yaml')));
    // The plain topic whose default table the dashed one kept: refused, the dashed one flows on.
    const plain = topic.replace('up-dash', 'up_dash');
    expect(tableNameForTopic(plain)).toBe(legacy);
    const other = new OrdersLoad(plain, 3);
    await other.write(20, 1);
    await load.write(100, 2);
    const both = new SinkProcess([
      '--config',
      writePipeline({ ...base, topics: [topic, plain] }, join(dir, 'both.yaml')),
    ]);
    await both.line('sink started');
    const stopped = await both.line(
      'topic stopped: its table name is taken by another topic; its records are not written or committed until the name is changed and the sink restarted',
    );
    expect(stopped).toMatchObject({ topic: plain, table: legacy });
    expect((stopped.err as { message: string }).message).toContain(
      `table ${legacy} is written by topic ${topic} (`,
    );
    expect((stopped.err as { message: string }).message).toContain(
      `set clickhouse.sink.tables.${JSON.stringify(plain)}.table to a free name`,
    );
    const total = await topicSize(topic);
    await until(
      'the dashed topic to be committed to its end',
      async () =>
        (await committedOffsets(groupId, topic)).reduce((n, o) => n + Math.max(0, Number(o)), 0) === total,
    );
    expect((await committedOffsets(groupId, plain)).every((o) => Number(o) <= 0)).toBe(true);
    expect((await both.kill('SIGTERM')).code).toBe(0);
    const warning = sink.lines.find((l) => String(l.msg).startsWith('topic keeps writing the table'));
    expect(warning).toMatchObject({
      topic,
      table: legacy,
      defaultTable: now,
      fix: `clickhouse.sink.tables.${JSON.stringify(topic)}.table: ${legacy}`,
    });

    const ch = new EmbeddedTransport(data);
    try {
      const rows = await ch.query<{ id: number; customer: string }>(
        `SELECT id, customer FROM ${database}.${legacy}_current ORDER BY id`,
      );
      expect(rows.map((r) => ({ id: Number(r.id), customer: r.customer }))).toEqual(load.rows());
      const [n] = await ch.query<{ n: number }>(
        `SELECT count() AS n FROM system.tables WHERE database = '${database}' AND name = '${now}'`,
      );
      expect(Number(n?.n)).toBe(0);
      // A fresh topic with a dash gets the new name (the names scenario covers it end to end).
      expect(quoteIdent(now)).toContain('-');
    } finally {
      await ch.close();
      await drainPending();
    }
  });
});

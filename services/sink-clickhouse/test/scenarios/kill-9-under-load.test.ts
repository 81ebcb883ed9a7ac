/**
 * kill-9-under-load: the sink (a child process on its own embedded directory) is killed with
 * SIGKILL three times at random moments while a producer keeps writing CDC changes to a
 * three-partition topic. After a last run has caught up, the current state read through its
 * read-only endpoint equals the state the produced changes leave, the history holds every
 * change exactly once, and `t FINAL` one row per key. The last sink is started while another
 * still holds the embedded directory: it waits for the lock instead of exiting.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { committedOffsets, endpoints, OrdersLoad, removeDir, topicSize, unique, until } from '../helpers.ts';
import { SinkProcess, writePipeline } from '../sink-process.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill-9-under-load', () => {
  const dir = mkdtempSync(join(endpoints.chdbDir, `sink-${process.pid}-kill9-`));
  let current: SinkProcess | undefined;

  afterAll(async () => {
    if (current && current.child.exitCode === null && current.child.signalCode === null)
      await current.kill('SIGKILL');
    removeDir(dir);
  });

  it('ends with the source state after three kills at random moments', { timeout: 240_000 }, async () => {
    const topic = unique('it.kill9.orders');
    const table = topic.replace(/\W/g, '_');
    const database = unique('kill9');
    const groupId = unique('sink-kill9');
    const load = new OrdersLoad(topic, 9);
    await load.write(300, 3);
    const config = writePipeline(
      {
        dir: join(dir, 'data'),
        database,
        topics: [topic],
        groupId,
        deadLetterTopic: `${topic}.dlq`,
        maxRows: 300,
      },
      join(dir, 'pipeline.yaml'),
    );

    let producing = true;
    const producer = (async () => {
      while (producing) {
        await load.write(150, 3);
        await sleep(150);
      }
    })();
    try {
      for (let kill = 0; kill < 3; kill++) {
        current = new SinkProcess(['--config', config]);
        await current.line('sink started');
        await sleep(1_500 + Math.random() * 4_000);
        const exit = await current.kill('SIGKILL');
        expect(exit.signal).toBe('SIGKILL');
      }
    } finally {
      producing = false;
      await producer;
    }

    // The last sink starts while a predecessor still holds the embedded directory: it waits for
    // the lock (logging each retry) and starts once the predecessor is killed.
    const holder = new SinkProcess(['--config', config]);
    await holder.line('sink started');
    current = new SinkProcess(['--config', config], { CDC__TELEMETRY__HTTP__PORT: '0' });
    const locked = await current.line('the embedded ClickHouse directory is locked; retrying');
    expect(JSON.stringify(locked.err)).toMatch(/another process holds its lock/);
    expect((await holder.kill('SIGKILL')).signal).toBe('SIGKILL');
    const listening = await current.line('read-only SQL endpoint listening');
    await current.line('sink started');
    const total = await topicSize(topic);
    expect(total).toBe(load.produced);
    await until(
      `the sink to commit all ${total} changes`,
      async () =>
        (await committedOffsets(groupId, topic)).reduce((n, o) => n + Math.max(0, Number(o)), 0) === total,
      120_000,
    );
    const sql = async <T>(query: string): Promise<T[]> => {
      const res = await fetch(
        `${listening.url}/?${new URLSearchParams({ query, default_format: 'JSONEachRow' })}`,
      );
      const text = await res.text();
      if (res.status !== 200) throw new Error(text);
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as T);
    };
    const state = await sql<{ id: number; customer: string }>(
      `SELECT id, customer FROM ${table}_current ORDER BY id`,
    );
    expect(state.map((r) => ({ id: Number(r.id), customer: r.customer }))).toEqual(load.rows());
    const [counts] = await sql<{ history: number; dup: number }>(
      `SELECT (SELECT count() FROM ${table}_history FINAL) AS history, (SELECT count() - uniqExact(id) FROM ${table} FINAL) AS dup`,
    );
    expect({ history: Number(counts?.history), dup: Number(counts?.dup) }).toEqual({
      history: total,
      dup: 0,
    });
    expect(await topicSize(`${topic}.dlq`)).toBe(0);

    const exit = await current.kill('SIGTERM');
    expect(exit.code).toBe(0);
  });
});

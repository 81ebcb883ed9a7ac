/**
 * decode-worker-dies: a decode worker thread that dies mid-stream (as an out-of-memory abort or a
 * native crash would end it) fails the sink at once with a non-retriable error for its supervisor,
 * instead of leaving it waiting for a batch that never comes; nothing was committed past what was
 * inserted, and a sink started again writes every change exactly once.
 */
import { isCdcError } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { TableManager } from '../../src/schema/tables.ts';
import { ClickHouseSink } from '../../src/sink.ts';
import {
  committedOffsets,
  embeddedTransport,
  OrdersLoad,
  registry,
  runSinkUntil,
  sinkOptions,
  testKafka,
  testLogger,
  unique,
  until,
} from '../helpers.ts';

describe('decode-worker-dies', () => {
  it('fails the sink loudly, commits nothing unwritten, and a restart writes every change once', async () => {
    const topic = unique('it.workerdies.orders');
    const db = unique('workerdies');
    const load = new OrdersLoad(topic);
    await load.write(6_000);
    const options = sinkOptions([topic], { batch: { maxRows: 200, maxWaitMs: 100 } });
    const transport = embeddedTransport();
    const sink = new ClickHouseSink({
      kafka: testKafka(),
      registry,
      transport,
      tables: new TableManager(transport, db, testLogger),
      options,
      logger: testLogger,
      decodeThreads: 2,
    });
    await sink.start();
    const ended = sink.done.then(
      () => undefined,
      (err: unknown) => err,
    );
    try {
      await until('some batches through the sink', async () => sink.totals.records >= 600, 60_000);
      // Fault injection: end one worker thread from outside.
      const pool = (sink as unknown as { pool: { workers: { terminate(): Promise<number> }[] } }).pool;
      const killedAt = Date.now();
      await pool.workers[0]!.terminate();
      const err = await ended;
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      expect(isCdcError(err, 'INVARIANT_VIOLATED')).toBe(true);
      expect(isCdcError(err) && err.retriable).toBe(false);
      expect(String((err as Error).message)).toMatch(/decode worker thread .* exited/);
    } finally {
      await sink.stop();
    }
    const written = sink.totals.records;
    expect(written).toBeLessThan(load.produced);
    const [committed] = await committedOffsets(options.groupId, topic);
    expect(Number(committed)).toBe(written);

    await runSinkUntil(options, db, load.produced - written);
    const table = topic.replace(/[^A-Za-z0-9_]/g, '_');
    const ch = embeddedTransport();
    const state = await ch.query<{ id: number; customer: string }>(
      `SELECT id, customer FROM ${db}.${table}_current ORDER BY id`,
    );
    expect(state.map((r) => ({ id: Number(r.id), customer: r.customer }))).toEqual(load.rows());
    const history = await ch.query<{ n: string }>(`SELECT count() AS n FROM ${db}.${table}_history FINAL`);
    expect(Number(history[0]!.n)).toBe(load.produced);
  });
});

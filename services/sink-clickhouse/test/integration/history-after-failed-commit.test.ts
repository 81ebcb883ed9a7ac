/**
 * history-after-failed-commit: an insert whose part could not be renamed into place (the disk
 * turned read-only at that moment) after the engine had recorded its block in the table's
 * deduplication log. The entry stays: a retry with the same `insert_deduplication_token` is
 * dropped as a duplicate, and that batch's changes are lost for good in that table. The sink
 * retries with a token no earlier attempt sent (`insertToken`): afterwards the history holds
 * every change once and the table every row, under FINAL. Both cases: the history's rename fails
 * (the table's part is in; CI's service-outage once found 9 changes missing from a history), and
 * the table's (the history's part is in).
 *
 * The fault: an immutable directory named like the next part of that table only, so that the
 * first attempt fails at the rename (`filesystem error … Operation not permitted`); the sink's
 * observer removes it when the attempt fails, and the retry goes through.
 *
 * After a restart: the sink dies right after that failed attempt (its observer throws, which ends
 * the flush loop with nothing of the batch committed, as a kill would), and a new sink in the same
 * group forms the same batch again and sends its first attempt's token, spent in that table. The
 * engine drops the insert as a duplicate; the sink sees that (`dedup-check.ts`), finds the batch
 * missing and inserts it again. And a batch that was fully inserted before the sink died (before
 * its offsets were committed) is still dropped as a duplicate: not one row more on disk.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { EmbeddedTransport } from '@cdc/clickhouse';
import { CdcError } from '@cdc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { noopObserver, type SinkObserver } from '../../src/observer.ts';
import { TableManager } from '../../src/schema/tables.ts';
import { ClickHouseSink, tableNameFor } from '../../src/sink.ts';
import {
  committedOffsets,
  embeddedTransport,
  ordersRelation,
  PgTopic,
  produce,
  registry,
  removeDir,
  sinkOptions,
  testKafka,
  testLogger,
  unique,
  until,
} from '../helpers.ts';

const blockers: string[] = [];
afterAll(() => {
  for (const dir of blockers) removeDir(dir);
});

/**
 * Plants immutable directories under the names of `name`'s next part (levels 0 and 1: this
 * engine's inserted parts of a ReplacingMergeTree are merged on insert), so that only the rename
 * of that part fails. Returns them.
 */
async function blockNextPart(ch: EmbeddedTransport, database: string, name: string): Promise<string[]> {
  // The next part of the target: its block number follows every one it allocated so far.
  const [at] = await ch.query<{ path: string; block: string }>(
    `SELECT arrayJoin(data_paths) AS path, (SELECT max(max_block_number) FROM system.parts WHERE database = '${database}' AND table = '${name}') AS block FROM system.tables WHERE database = '${database}' AND name = '${name}'`,
  );
  expect(at?.path).toBeTruthy();
  const next = Number(at!.block) + 1;
  const planted: string[] = [];
  for (const level of [0, 1]) {
    const dir = `${at!.path.replace(/\/$/, '')}/all_${next}_${next}_${level}`;
    mkdirSync(dir);
    writeFileSync(`${dir}/blocker`, 'x');
    execFileSync('chattr', ['+i', dir]);
    planted.push(dir);
    blockers.push(dir);
  }
  return planted;
}

/** Both batches whole: their 8 changes once each in the history under FINAL, the table's 6 rows at their last change. */
async function expectEveryChange(ch: EmbeddedTransport, tables: TableManager, table: string): Promise<void> {
  const [h] = await ch.query<{ rows: string; changes: string }>(
    `SELECT count() AS rows, uniqExact(_change_id) AS changes FROM ${tables.qualified(`${table}_history`)} FINAL`,
  );
  expect({ changes: Number(h?.changes), rows: Number(h?.rows) }).toEqual({ changes: 8, rows: 8 });
  const current = await ch.query<{ id: string; customer: string }>(
    `SELECT id, customer FROM ${tables.qualified(table)} FINAL WHERE _is_deleted = 0 ORDER BY id`,
  );
  expect(current.map((r) => [Number(r.id), r.customer])).toEqual([
    [1, 'a2'],
    [2, 'b2'],
    [3, 'c'],
    [4, 'd'],
    [5, 'e'],
    [6, 'f'],
  ]);
}

async function failedCommit(target: 'history' | 'table'): Promise<void> {
  const ch = embeddedTransport();
  const database = unique(`it_commit_${target}`);
  const topic = unique(`it.commit.${target}`);
  const options = sinkOptions([topic], { retry: { initialDelayMs: 100, maxDelayMs: 500 } });
  const table = tableNameFor(options, topic);
  const tables = new TableManager(ch, database, testLogger);
  const pg = new PgTopic(topic, ordersRelation());
  const row = (id: number, customer: string) => [String(id), customer, '1.00', '2024-03-01 10:00:00+00'];
  const planted: string[] = [];
  const errors: string[] = [];
  const sink = new ClickHouseSink({
    kafka: testKafka(),
    registry,
    transport: ch,
    tables,
    options,
    logger: testLogger,
    observer: {
      ...noopObserver,
      error(err) {
        errors.push(String((err as Error)?.message ?? err));
        // The disk is writable again: the retry may go through.
        for (const dir of planted.splice(0)) removeDir(dir);
      },
    },
  });

  await produce(topic, [
    await pg.event('c', row(1, 'a')),
    await pg.event('c', row(2, 'b')),
    await pg.event('c', row(3, 'c')),
  ]);
  await sink.start();
  try {
    await until('the first batch written', async () => sink.totals.records >= 3);

    planted.push(...(await blockNextPart(ch, database, target === 'history' ? `${table}_history` : table)));

    await produce(topic, [
      await pg.event('u', row(1, 'a2')),
      await pg.event('u', row(2, 'b2')),
      await pg.event('c', row(4, 'd')),
      await pg.event('c', row(5, 'e')),
      await pg.event('c', row(6, 'f')),
    ]);
    await until('the second batch written', async () => sink.totals.records >= 8);
  } finally {
    await sink.stop();
  }

  // The first attempt failed at the commit of the target's part, and was retried.
  expect(errors.length).toBeGreaterThanOrEqual(1);
  expect(errors[0]).toMatch(/Operation not permitted/);
  expect(planted).toEqual([]);
  expect(sink.totals.retries).toBeGreaterThanOrEqual(1);

  await expectEveryChange(ch, tables, table);
}

describe('a batch whose first insert failed at the commit of a part', () => {
  it('the history: every change of the batch in it after the retry, once under FINAL', async () => {
    await failedCommit('history');
  });

  it('the table: every row of the batch in it after the retry, once under FINAL', async () => {
    await failedCommit('table');
  });
});

/** Thrown by a sink's observer: ends its flush loop with nothing of the batch committed, as a kill would. */
class Died extends Error {}

/**
 * A sink dies with the second batch not committed, after `before`: its insert failed at the
 * commit of the history's (or the table's) part, or went through. A new sink in the same group
 * forms the same batch again (first attempt, the token sent before).
 */
async function restartAfter(before: 'history' | 'table' | 'inserted'): Promise<void> {
  const ch = embeddedTransport();
  const database = unique(`it_restart_${before}`);
  const topic = unique(`it.restart.${before}`);
  const options = sinkOptions([topic], { retry: { initialDelayMs: 100, maxDelayMs: 500 } });
  const table = tableNameFor(options, topic);
  const pg = new PgTopic(topic, ordersRelation());
  const row = (id: number, customer: string) => [String(id), customer, '1.00', '2024-03-01 10:00:00+00'];
  const planted: string[] = [];
  const errors: string[] = [];
  const batches =
    (into: string[][]): SinkObserver['flush'] =>
    (records, run) => {
      into.push(records.map((r) => r.offset));
      return run();
    };
  const batchesOfA: string[][] = [];
  const first = new ClickHouseSink({
    kafka: testKafka(),
    registry,
    transport: ch,
    tables: new TableManager(ch, database, testLogger),
    options,
    logger: testLogger,
    observer: {
      ...noopObserver,
      flush: batches(batchesOfA),
      async insert(_table, items, insert) {
        const rejected = await insert();
        // Inserted, and the sink dies before the commit of its offsets.
        if (before === 'inserted' && items.length === 5)
          throw new CdcError('SINK_UNAVAILABLE', 'the sink dies after the insert', { retriable: true });
        return rejected;
      },
      error(err) {
        errors.push(String((err as Error)?.message ?? err));
        for (const dir of planted.splice(0)) removeDir(dir);
        throw new Died('the sink dies after its first attempt at the batch');
      },
    },
  });

  await produce(topic, [
    await pg.event('c', row(1, 'a')),
    await pg.event('c', row(2, 'b')),
    await pg.event('c', row(3, 'c')),
  ]);
  await first.start();
  try {
    await until('the first batch written', async () => first.totals.records >= 3);
    await first.committed;
    await until(
      'the first batch committed',
      async () => (await committedOffsets(options.groupId, topic))[0] === '3',
    );
    if (before !== 'inserted')
      planted.push(...(await blockNextPart(ch, database, before === 'history' ? `${table}_history` : table)));
    await produce(topic, [
      await pg.event('u', row(1, 'a2')),
      await pg.event('u', row(2, 'b2')),
      await pg.event('c', row(4, 'd')),
      await pg.event('c', row(5, 'e')),
      await pg.event('c', row(6, 'f')),
    ]);
    await expect(first.done).rejects.toBeInstanceOf(Died);
  } finally {
    await first.stop();
  }
  expect(errors).toHaveLength(1);
  if (before === 'inserted') expect(errors[0]).toMatch(/dies after the insert/);
  else expect(errors[0]).toMatch(/Operation not permitted/);
  expect(planted).toEqual([]);
  expect(await committedOffsets(options.groupId, topic)).toEqual(['3']);

  const tables = new TableManager(ch, database, testLogger);
  const physical = async () => {
    const [c] = await ch.query<{ table: string; history: string }>(
      `SELECT (SELECT count() FROM ${tables.qualified(table)}) AS table, (SELECT count() FROM ${tables.qualified(`${table}_history`)}) AS history`,
    );
    return { table: Number(c?.table), history: Number(c?.history) };
  };
  const onDisk = await physical();

  const batchesOfB: string[][] = [];
  const second = new ClickHouseSink({
    kafka: testKafka(),
    registry,
    transport: ch,
    tables,
    options,
    logger: testLogger,
    observer: { ...noopObserver, flush: batches(batchesOfB) },
  });
  await second.start();
  try {
    await until('the second batch written again', async () => second.totals.records >= 5);
  } finally {
    await second.stop();
  }
  // The same batch as the dead sink's last one: the same token, in the first attempt.
  expect(batchesOfB).toEqual([batchesOfA.at(-1)]);
  expect(batchesOfB).toEqual([['3', '4', '5', '6', '7']]);
  expect(second.totals.retries).toBe(0);

  await expectEveryChange(ch, tables, table);
  // A batch that was in both before is dropped whole: not one row more on disk.
  if (before === 'inserted') expect(await physical()).toEqual(onDisk);
}

describe('a batch formed again by a new sink after the last one died', () => {
  it('its insert had failed at the commit of the history: every change in the history', async () => {
    await restartAfter('history');
  });

  it('its insert had failed at the commit of the table: every row in the table', async () => {
    await restartAfter('table');
  });

  it('its insert had gone through: dropped as a duplicate, no row written twice', async () => {
    await restartAfter('inserted');
  });
});

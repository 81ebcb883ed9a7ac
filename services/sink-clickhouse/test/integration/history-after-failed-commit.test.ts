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
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { noopObserver } from '../../src/observer.ts';
import { TableManager } from '../../src/schema/tables.ts';
import { ClickHouseSink, tableNameFor } from '../../src/sink.ts';
import {
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

    // The next part of the target: its block number follows every one it allocated so far.
    const name = target === 'history' ? `${table}_history` : table;
    const [at] = await ch.query<{ path: string; block: string }>(
      `SELECT arrayJoin(data_paths) AS path, (SELECT max(max_block_number) FROM system.parts WHERE database = '${database}' AND table = '${name}') AS block FROM system.tables WHERE database = '${database}' AND name = '${name}'`,
    );
    expect(at?.path).toBeTruthy();
    const next = Number(at!.block) + 1;
    // Level 1: this engine's inserted parts of a ReplacingMergeTree (merged on insert); 0 elsewhere.
    for (const level of [0, 1]) {
      const dir = `${at!.path.replace(/\/$/, '')}/all_${next}_${next}_${level}`;
      mkdirSync(dir);
      writeFileSync(`${dir}/blocker`, 'x');
      execFileSync('chattr', ['+i', dir]);
      planted.push(dir);
      blockers.push(dir);
    }

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

describe('a batch whose first insert failed at the commit of a part', () => {
  it('the history: every change of the batch in it after the retry, once under FINAL', async () => {
    await failedCommit('history');
  });

  it('the table: every row of the batch in it after the retry, once under FINAL', async () => {
    await failedCommit('table');
  });
});

/**
 * clickhouse-down-30s: ClickHouse stops accepting writes for 30 s while the producer keeps
 * writing CDC changes. The sink pauses consumption (nothing more is buffered, no offset is
 * committed, the batch is retried with backoff), resumes when ClickHouse is back, and the
 * current state equals the source's: nothing lost, nothing dead-lettered, one row per key.
 *
 * - HTTP: the Debian server (18.16) behind a TCP proxy that the test cuts (the shared server
 *   keeps running); tables in the 18.16 dialect (`legacy-tables.ts`), no deduplication token,
 *   JSONEachRow only (18.16 has no JSONCompactEachRow).
 * - Embedded: the table's data directories made immutable (`chattr +i`: root ignores
 *   permissions, not that flag), so that the engine's inserts fail as on a broken disk.
 *
 * The two run at the same time (30 s once).
 */
import { execFileSync } from 'node:child_process';
import type { ClickHouseTransport } from '@cdc/clickhouse';
import { HttpTransport } from '@cdc/clickhouse';
import { TcpProxy } from '@cdc/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { TableManager } from '../../src/schema/tables.ts';
import { ClickHouseSink } from '../../src/sink.ts';
import type { InsertOptions } from '../../src/table-writer.ts';
import {
  committedOffsets,
  embeddedTransport,
  endpoints,
  OrdersLoad,
  registry,
  sinkOptions,
  testKafka,
  testLogger,
  topicSize,
  unique,
  until,
} from '../helpers.ts';
import { LegacyTables } from '../legacy-tables.ts';

const OUTAGE_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outage {
  /** Makes ClickHouse refuse writes. */
  begin(): Promise<void>;
  end(): Promise<void>;
}

async function outageScenario(
  name: string,
  transport: ClickHouseTransport,
  tables: TableManager,
  outage: (table: string) => Outage,
  readState: (table: string) => Promise<{ id: number; customer: string }[]>,
  insert: InsertOptions,
) {
  const topic = unique(`it.down.${name}`);
  const table = topic.replace(/\W/g, '_');
  const load = new OrdersLoad(topic, name.length);
  const options = sinkOptions([topic], {
    batch: { maxRows: 200, maxWaitMs: 200 },
    retry: { initialDelayMs: 200, maxDelayMs: 2_000 },
  });
  const sink = new ClickHouseSink({
    kafka: testKafka(),
    registry,
    transport,
    tables,
    options,
    logger: testLogger,
    insert,
  });
  await load.write(500);
  await sink.start();
  try {
    await until('the first changes written', async () => sink.totals.records >= 500);
    const fault = outage(table);
    await fault.begin();
    const samples: { buffered: number; paused: boolean; committed: string[]; retries: number }[] = [];
    try {
      const started = Date.now();
      // The producer keeps writing through the outage.
      while (Date.now() - started < OUTAGE_MS) {
        await load.write(100);
        const elapsed = Date.now() - started;
        if (
          (elapsed > 8_000 && samples.length === 0) ||
          (elapsed > OUTAGE_MS - 3_000 && samples.length === 1)
        )
          samples.push({
            buffered: sink.bufferedRecords,
            paused: sink.consumptionPaused,
            committed: await committedOffsets(options.groupId, topic),
            retries: sink.totals.retries,
          });
        await sleep(400);
      }
    } finally {
      await fault.end();
    }
    // Paused: nothing more read into memory and nothing committed while failing; retried meanwhile.
    expect(samples).toHaveLength(2);
    const [early, late] = samples as [(typeof samples)[0], (typeof samples)[0]];
    expect(early.paused && late.paused).toBe(true);
    expect(late.buffered).toBe(early.buffered);
    expect(late.buffered).toBeLessThan(load.produced - 500);
    expect(late.committed).toEqual(early.committed);
    expect(late.retries).toBeGreaterThan(early.retries);

    await until(
      `all ${load.produced} changes through the sink after the outage`,
      async () => {
        const committed = await committedOffsets(options.groupId, topic);
        return Number(committed[0]) >= load.produced;
      },
      90_000,
    );
  } finally {
    await sink.stop();
  }
  expect(await readState(table)).toEqual(load.rows());
  expect(await topicSize(options.deadLetterTopic)).toBe(0);
}

describe('clickhouse-down-30s', () => {
  const proxy = TcpProxy.forUrl(endpoints.clickhouse.url);
  const legacyDb = unique('it_down');
  let http: HttpTransport | undefined;

  afterAll(async () => {
    await http?.command(`DROP DATABASE IF EXISTS ${legacyDb}`).catch(() => undefined);
    await http?.close();
    await proxy.close();
  });

  it.concurrent('HTTP transport, the server unreachable: pauses, retries, resumes, loses nothing', async () => {
    await proxy.start();
    http = new HttpTransport({ url: proxy.url, requestTimeoutMs: 5_000 });
    const ch = http;
    await outageScenario(
      'http',
      ch,
      new LegacyTables(ch, legacyDb),
      () => ({ begin: () => proxy.cut(), end: () => proxy.restore() }),
      async (table) =>
        (
          await ch.query<{ id: string; customer: string }>(
            `SELECT id, customer FROM ${legacyDb}.${table} FINAL WHERE _is_deleted = 0 ORDER BY id`,
          )
        ).map((r) => ({ id: Number(r.id), customer: r.customer })),
      { dedup: false, compact: false },
    );
  });

  it.concurrent('embedded engine, the data directory unwritable: pauses, retries, resumes, loses nothing', async () => {
    const ch = embeddedTransport();
    const db = unique('down');
    const dataPaths = async (table: string) =>
      (
        await ch.query<{ data_paths: string[] }>(
          `SELECT data_paths FROM system.tables WHERE database = '${db}' AND name IN ('${table}', '${table}_history')`,
        )
      ).flatMap((r) => r.data_paths);
    await outageScenario(
      'embedded',
      ch,
      new TableManager(ch, db, testLogger),
      (table) => {
        let paths: string[] = [];
        return {
          async begin() {
            paths = await dataPaths(table);
            expect(paths).toHaveLength(2);
            execFileSync('chattr', ['+i', ...paths]);
          },
          async end() {
            execFileSync('chattr', ['-i', ...paths]);
          },
        };
      },
      async (table) =>
        (
          await ch.query<{ id: number; customer: string }>(
            `SELECT id, customer FROM ${db}.${table}_current ORDER BY id`,
          )
        ).map((r) => ({ id: Number(r.id), customer: r.customer })),
      { dedup: true },
    );
  });
});

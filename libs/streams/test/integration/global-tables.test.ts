/**
 * Global tables at start: what an enrichment join can look up once `start` returns. Every row
 * committed before the start is there, none aborted and none of a transaction still open, also
 * when the topic ends with transaction markers (kafkajs hands markers to no `eachBatch`, so a
 * loader counting only records never sees such an end); rows committed later follow. A load that
 * stops moving fails retriably, naming the partitions short of their end, instead of announcing
 * tables half loaded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCdcError, noopLogger } from '@cdc/core';
import {
  type Admin,
  createIdempotentProducer,
  deleteTopicsIfExist,
  ensureTopics,
  type Kafka,
  TransactionalProducer,
} from '@cdc/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Serdes, StreamsBuilder } from '../../src/index.ts';
import { GlobalTables } from '../../src/runtime/global-tables.ts';
import { localKafka, runId } from './helpers.ts';

const run = runId();
const topic = `it.streams.global-tables.${run}`;
let kafka: Kafka;
let admin: Admin;

function tables(
  dir?: string,
  table = topic,
  checkpointIntervalMs?: number,
): { globals: GlobalTables; store: string } {
  const builder = new StreamsBuilder();
  builder.globalTable(table, {
    keySerde: Serdes.string(),
    valueSerde: Serdes.string(),
    storeName: 'customers',
    // An empty value deletes the row (as a CDC delete does).
    isDelete: (v: string) => v === '',
  });
  return {
    globals: new GlobalTables(kafka, builder.build().globals, noopLogger, {
      ...(dir === undefined ? {} : { dir }),
      ...(checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs }),
    }),
    store: 'customers',
  };
}

async function lookup(globals: GlobalTables, store: string, key: string): Promise<unknown> {
  const s = globals.stores.get(store) as unknown as { get(k: string): Promise<unknown> };
  return s.get(key);
}

beforeAll(async () => {
  kafka = localKafka(`it-global-${run}`);
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, numPartitions: 3 }]);
});

afterAll(async () => {
  await deleteTopicsIfExist(admin, [topic]);
  await admin.disconnect();
});

describe('GlobalTables.start', () => {
  it('holds every committed row and no other once it returns, and follows rows committed later', async () => {
    const producer = await TransactionalProducer.connect(kafka, {
      transactionalId: `it-global-${run}`,
      logger: noopLogger,
      transactionTimeoutMs: 60_000,
    });
    await producer.transaction(async (tx) => {
      await tx.send({
        topic,
        messages: Array.from({ length: 300 }, (_, i) => ({ partition: i % 2, key: `c${i}`, value: `v${i}` })),
      });
    });
    await expect(
      producer.transaction(async (tx) => {
        await tx.send({ topic, messages: [{ partition: 0, key: 'c0', value: 'aborted' }] });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');

    // A second writer holds a transaction open across the start (a capture in its snapshot).
    const holder = await TransactionalProducer.connect(kafka, {
      transactionalId: `it-global-${run}-open`,
      logger: noopLogger,
      transactionTimeoutMs: 60_000,
    });
    let commit: () => void = () => {};
    let sent: () => void = () => {};
    const written = new Promise<void>((r) => {
      sent = r;
    });
    const open = holder.transaction(async (tx) => {
      await tx.send({ topic, messages: [{ partition: 1, key: 'late', value: 'committed after start' }] });
      sent();
      await new Promise<void>((r) => {
        commit = r;
      });
    });
    const { globals, store } = tables();
    const failures: Error[] = [];
    try {
      await written;
      await globals.start(admin, (err) => failures.push(err), 30_000);
      expect(await lookup(globals, store, 'c0')).toBe('v0');
      expect(await lookup(globals, store, 'c299')).toBe('v299');
      expect(await lookup(globals, store, 'late')).toBeUndefined();
      const all = await Promise.all(Array.from({ length: 300 }, (_, i) => lookup(globals, store, `c${i}`)));
      expect(all.filter((v, i) => v !== `v${i}`)).toEqual([]);

      commit();
      await open;
      const deadline = Date.now() + 30_000;
      while ((await lookup(globals, store, 'late')) === undefined && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(await lookup(globals, store, 'late')).toBe('committed after start');
      expect(failures).toEqual([]);
    } finally {
      commit();
      await open.catch(() => undefined);
      await globals.stop();
      await holder.disconnect();
      await producer.disconnect();
    }
  });

  it('kept in a state folder: a restart reads only the records written since its checkpoint, and holds every row as the topic has it', async () => {
    const persisted = `${topic}.persisted`;
    await ensureTopics(admin, [{ topic: persisted, numPartitions: 3 }]);
    const dir = await mkdtemp(join(tmpdir(), 'streams-global-'));
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    const send = (rows: [string, string][]) =>
      producer.send({ topic: persisted, messages: rows.map(([key, value]) => ({ key, value })) });
    const rows = (from: number, to: number, v: (i: number) => string): [string, string][] =>
      Array.from({ length: to - from }, (_, k) => [`c${from + k}`, v(from + k)]);
    let globals: GlobalTables | undefined;
    try {
      await send(rows(0, 500, (i) => `v${i}`));
      ({ globals } = tables(dir, persisted));
      await globals.start(admin, () => {}, 30_000);
      expect(globals.recordsRead).toBe(500);
      expect(await lookup(globals, 'customers', 'c499')).toBe('v499');
      await globals.stop();

      // While it is stopped: 40 rows change, 10 are deleted, 20 are new.
      await send([
        ...rows(0, 40, (i) => `w${i}`),
        ...rows(40, 50, () => ''),
        ...rows(500, 520, (i) => `v${i}`),
      ]);
      ({ globals } = tables(dir, persisted));
      await globals.start(admin, () => {}, 30_000);
      expect(globals.recordsRead).toBe(70);
      const want = (i: number) => (i < 40 ? `w${i}` : i < 50 ? undefined : `v${i}`);
      const all = await Promise.all(
        Array.from({ length: 520 }, (_, i) => lookup(globals as GlobalTables, 'customers', `c${i}`)),
      );
      expect(all.map((v, i) => [i, v]).filter(([i, v]) => v !== want(i as number))).toEqual([]);
      await globals.stop();

      // Another table on the same folder: it is read whole, not from the first one's checkpoint.
      ({ globals } = tables(dir, topic));
      await globals.start(admin, () => {}, 30_000);
      expect(await lookup(globals, 'customers', 'c519')).toBeUndefined();
      expect(globals.recordsRead).toBeGreaterThan(0);
    } finally {
      await globals?.stop();
      await producer.disconnect();
      await deleteTopicsIfExist(admin, [persisted]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails retriably, naming the partitions short of their end, when the load stops moving', async () => {
    const { globals } = tables();
    try {
      const err = await globals.start(admin, () => {}, 1).catch((e: unknown) => e);
      expect(isCdcError(err) && err.retriable).toBe(true);
      expect((err as Error).message).toMatch(
        /loading the global tables stopped moving for 1 ms before their end/,
      );
      expect((err as Error).message).toContain(`${topic}:0 `);
    } finally {
      await globals.stop();
    }
  });
});

/**
 * debezium-envelope: a PostgreSQL capture with `envelope: debezium` writes topics that a
 * consumer built for Debezium reads with Debezium's field names and types (`ts_ms`,
 * `source.lsn` and `source.txId` as longs, `source.snapshot`, `op`, no `changeId`), and the sink
 * applies them exactly: after a snapshot, inserts, updates (two in one transaction) and deletes,
 * `cdc verify` finds ClickHouse equal to PostgreSQL.
 */
import { writeFileSync } from 'node:fs';
import { AvroSerde, RegistryClient } from '@cdc/avro';
import {
  buildPackages,
  cdcCommand,
  createSourceDatabase,
  dropScenario,
  freePort,
  pgOwner,
  readTopic,
  scenarioFiles,
  scenarioKafka,
  scenarioPipeline,
  tearDownScenario,
} from '@cdc/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';

const ep = localEndpoints();
const id = `dbz_${process.pid}_${Date.now().toString(36)}`;
const files = scenarioFiles('debezium-envelope');
const httpPort = await freePort();
const topic = `${id}.${id}.public.accounts`;

const cdcUser = () => pgOwner(id);
const kafka = () => scenarioKafka(id);
const cdc = cdcCommand(files);
const dropAll = () => dropScenario(id);

beforeAll(async () => {
  const build = buildPackages('services/cli', 'services/capture-postgres', 'services/sink-clickhouse');
  expect(build.status, build.out).toBe(0);
  await dropAll().catch(() => undefined);
  await createSourceDatabase(id, async (db) => {
    await db.query(
      'CREATE TABLE public.accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2), tier int)',
    );
    await db.query(
      `INSERT INTO public.accounts SELECT g, 'owner ' || g, g * 10.5, g % 3 FROM generate_series(1, 300) g`,
    );
  });
  writeFileSync(
    files.config,
    scenarioPipeline({
      id,
      dir: files.dir,
      httpPort,
      database: 'dbz',
      sinkTopics: `^${id}\\.`,
      postgres: 'envelope: debezium\ntopicPartitions: 2',
    }),
  );
}, 120_000);

afterAll(() => tearDownScenario({ id, files, cdc }), 120_000);

it('writes Debezium envelopes that a Debezium consumer reads and the sink applies exactly', {
  timeout: 240_000,
}, async () => {
  const up = cdc('up');
  expect(up.status, up.out).toBe(0);
  const client = cdcUser();
  await client.connect();
  try {
    await client.query(
      `INSERT INTO public.accounts VALUES (1001, 'new', 1.25, 2), (1002, 'newer', NULL, NULL)`,
    );
    await client.query('UPDATE public.accounts SET balance = balance + 1 WHERE id % 7 = 0');
    await client.query('BEGIN');
    await client.query(`UPDATE public.accounts SET owner = 'first' WHERE id = 5`);
    await client.query(`UPDATE public.accounts SET owner = 'second', tier = 9 WHERE id = 5`);
    await client.query('COMMIT');
    await client.query('DELETE FROM public.accounts WHERE id > 290 AND id <= 300');
    await client.query(`DELETE FROM public.accounts WHERE id = 1002`);
    await client.query(`INSERT INTO public.accounts VALUES (1002, 'back', 2, 1)`);
  } finally {
    await client.end();
  }

  const v = cdc('verify', '--timeout', '90');
  expect(v.out, v.out.slice(-4000)).toMatch(/ok +public\.accounts +292 \/ 292 rows/);
  expect(v.status, v.out.slice(-4000)).toBe(0);

  // A consumer written for Debezium: its reader schema names Debezium's fields and types only.
  // Debezium names the envelope and the row after the topic, the source after the connector.
  const reader = {
    type: 'record',
    name: 'Envelope',
    namespace: topic,
    fields: [
      {
        name: 'after',
        type: ['null', { type: 'record', name: 'Value', fields: [{ name: 'id', type: 'long' }] }],
        default: null,
      },
      {
        name: 'source',
        type: {
          type: 'record',
          name: 'Source',
          namespace: 'io.debezium.connector.postgresql',
          fields: [
            { name: 'connector', type: 'string' },
            { name: 'ts_ms', type: 'long' },
            { name: 'snapshot', type: ['string', 'null'], default: 'false' },
            { name: 'txId', type: ['null', 'long'], default: null },
            { name: 'lsn', type: ['null', 'long'], default: null },
            { name: 'table', type: 'string' },
          ],
        },
      },
      { name: 'op', type: 'string' },
      { name: 'ts_ms', type: ['null', 'long'], default: null },
    ],
  } as const;
  const serde = new AvroSerde({ registry: new RegistryClient({ url: ep.registry.url }) });
  const records = (await readTopic(kafka(), topic, 60_000)).filter((r) => r.value !== null);
  const values = await Promise.all(
    records.map(
      async (r) =>
        (await serde.deserialize(r.value, { reader: reader as never })) as {
          after: { id: number } | null;
          source: {
            connector: string;
            ts_ms: number;
            snapshot: string;
            txId: number | null;
            lsn: number;
            table: string;
          };
          op: string;
          ts_ms: number;
        },
    ),
  );
  const ops: Record<string, number> = {};
  for (const v of values) ops[v.op] = (ops[v.op] ?? 0) + 1;
  // 42 ids of 1..300 and 1001 are multiples of 7; id 5 twice; 291..300 and 1002 deleted.
  expect(ops).toEqual({ r: 300, c: 3, u: 45, d: 11 });
  for (const v of values) {
    expect(v.source.connector).toBe('postgresql');
    expect(v.source.table).toBe('accounts');
    expect(typeof Number(v.source.lsn)).toBe('number');
    expect(Number(v.source.lsn)).toBeGreaterThan(0);
    expect(Number(v.ts_ms)).toBeGreaterThan(1_600_000_000_000);
  }
  const streamed = values.filter((v) => v.op !== 'r');
  expect(streamed.every((v) => v.source.snapshot === 'false' && Number(v.source.txId) > 0)).toBe(true);
  expect(values.filter((v) => v.op === 'r').every((v) => v.source.snapshot !== 'false')).toBe(true);
  // The two updates of one transaction share its id; the later one has the higher LSN.
  const five = streamed.filter((v) => v.op === 'u' && Number(v.after?.id) === 5);
  expect(five).toHaveLength(2);
  expect(Number(five[0]!.source.txId)).toBe(Number(five[1]!.source.txId));
  expect(Number(five[1]!.source.lsn)).toBeGreaterThan(Number(five[0]!.source.lsn));
});

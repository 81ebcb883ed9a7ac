/**
 * Avro serdes on the local schema registry and Kafka: a topology reads a CDC-style topic whose
 * producer moves to a newer schema version while the application runs, keeps an Avro aggregate
 * in a (changelogged) store and writes Avro output. The new writer schema is fetched once, not
 * per record; its records are read into the application's schema; bytes that are not Avro go
 * to the deserialization policy.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AvroRecordSchema, AvroSerde, RegistryClient } from '@cdc/avro';
import { createIdempotentProducer } from '@cdc/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import {
  avroSerde,
  avroSerdes,
  ErrorPolicies,
  KafkaStreams,
  Serdes,
  StreamsBuilder,
} from '../../src/index.ts';
import {
  createTopics,
  localKafka,
  readTopic,
  removeScenario,
  runId,
  testLogger,
  waitFor,
} from './helpers.ts';

const run = runId();
const input = `it.streams.avro.orders.${run}`;
const output = `it.streams.avro.totals.${run}`;
const appId = `it-streams-avro-${run}`;
const kafka = localKafka(appId);
const url = localEndpoints().registry.url;
const subjects = [`${input}-value`, `${output}-value`];
let stateDir = '';

const ORDER_V1: AvroRecordSchema = {
  type: 'record',
  name: 'Order',
  namespace: 'it.streams',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'customer', type: 'string' },
    { name: 'amount', type: 'int' },
  ],
};
/** v2 adds a field with a default: BACKWARD compatible, and v1 readers drop it. */
const ORDER_V2: AvroRecordSchema = {
  ...ORDER_V1,
  fields: [...ORDER_V1.fields, { name: 'channel', type: ['null', 'string'], default: null }],
};
const TOTAL: AvroRecordSchema = {
  type: 'record',
  name: 'CustomerTotal',
  namespace: 'it.streams',
  fields: [
    { name: 'customer', type: 'string' },
    { name: 'orders', type: 'int' },
    { name: 'amount', type: 'long' },
    { name: 'lastOrder', type: 'long' },
  ],
};

interface Order {
  id: bigint;
  customer: string;
  amount: number;
}
interface Total {
  customer: string;
  orders: number;
  amount: bigint;
  lastOrder: bigint;
}

async function send(records: { key: string; value: Buffer }[]): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await producer.send({ topic: input, messages: records });
  } finally {
    await producer.disconnect();
  }
}

async function registry(method: string, path: string): Promise<void> {
  await fetch(`${url}${path}`, { method });
}

afterAll(async () => {
  await removeScenario(kafka, {
    topics: [input, output, `${appId}-totals-changelog`],
    groups: [appId],
    dirs: [stateDir],
  });
  for (const s of subjects) {
    await registry('DELETE', `/subjects/${encodeURIComponent(s)}`);
    await registry('DELETE', `/subjects/${encodeURIComponent(s)}?permanent=true`);
  }
});

describe('avro serdes', () => {
  it('reads a topic whose writer schema evolves mid-run, fetching the new schema once, and writes Avro', async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'streams-avro-'));
    await createTopics(kafka, [
      { topic: input, numPartitions: 1 },
      { topic: output, numPartitions: 1 },
    ]);

    // The producer side: its own serde and client, as capture would have.
    const producerAvro = new AvroSerde({ registry: new RegistryClient({ url }) });
    const v1 = await producerAvro.writerFor(`${input}-value`, ORDER_V1);
    await send([
      { key: 'ada', value: v1.encode({ id: 1n, customer: 'ada', amount: 10 }) },
      { key: 'bob', value: v1.encode({ id: 2n, customer: 'bob', amount: 5 }) },
      { key: 'ada', value: v1.encode({ id: 3n, customer: 'ada', amount: 7 }) },
    ]);

    // The application: a client of its own whose requests are counted.
    const requests: string[] = [];
    const appAvro = new AvroSerde({
      registry: new RegistryClient({
        url,
        onRequest: (method, u) => requests.push(`${method} ${u.slice(url.length)}`),
      }),
    });
    const orders = await avroSerdes<string, Order>(appAvro, input, { value: ORDER_V1 });
    const totals = await avroSerde<Total>(appAvro, { subject: `${output}-value`, schema: TOTAL });
    const builder = new StreamsBuilder();
    builder
      .stream(input, { keySerde: Serdes.string(), valueSerde: orders.valueSerde })
      .groupByKey()
      .aggregate<Total>(
        () => ({ customer: '', orders: 0, amount: 0n, lastOrder: 0n }),
        (customer, order, t) => ({
          customer,
          orders: t.orders + 1,
          amount: t.amount + BigInt(order.amount),
          lastOrder: order.id,
        }),
        { storeName: 'totals', valueSerde: totals },
      )
      .toStream()
      .to(output, { keySerde: Serdes.string(), valueSerde: totals });
    const app = new KafkaStreams(builder.build(), {
      applicationId: appId,
      kafka,
      stateDir,
      logger: testLogger(),
      errorHandlers: { deserialization: ErrorPolicies.continue() },
    });
    await app.start();
    try {
      await waitFor(() => app.metrics.processed === 3, 60_000, 'the v1 records');
      const startRequests = requests.length;

      // The producer moves to v2 while the application runs; someone writes JSON by mistake.
      const v2 = await producerAvro.writerFor(`${input}-value`, ORDER_V2);
      expect(v2.schemaId).not.toBe(v1.schemaId);
      await send([
        { key: 'bob', value: v2.encode({ id: 4n, customer: 'bob', amount: 20, channel: 'web' }) },
        { key: 'ada', value: Buffer.from('{"id":5,"customer":"ada","amount":1}') },
        { key: 'ada', value: v2.encode({ id: 6n, customer: 'ada', amount: 3, channel: null }) },
        { key: 'bob', value: v2.encode({ id: 7n, customer: 'bob', amount: 1, channel: 'shop' }) },
      ]);
      await waitFor(() => app.metrics.processed === 6, 60_000, 'the v2 records');
      expect(app.metrics.skipped).toBe(1);
      // Three v2 records, one fetch of the v2 schema by id.
      expect(requests.slice(startRequests)).toEqual([`GET /schemas/ids/${v2.schemaId}`]);
    } finally {
      await app.close();
    }
    expect(app.state).toBe('closed');

    const out = await readTopic(kafka, output, (r) => r.length >= 6);
    expect(out).toHaveLength(6);
    const reader = new AvroSerde({ registry: new RegistryClient({ url }) });
    const last = new Map<string, Total>();
    for (const r of out) last.set(r.key, (await reader.deserialize(r.value)) as Total);
    expect(Object.fromEntries(last)).toEqual({
      ada: { customer: 'ada', orders: 3, amount: 20n, lastOrder: 6n },
      bob: { customer: 'bob', orders: 3, amount: 26n, lastOrder: 7n },
    });
  });
});

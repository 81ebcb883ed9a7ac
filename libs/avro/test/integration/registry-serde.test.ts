/**
 * The serde against the local schema registry: registration, the caches that keep the hot path
 * off the network (proved by counting the client's HTTP requests), decoding with a reader
 * schema, a compatible evolution and an incompatible one explained by subject, field and rule,
 * and the errors a user sees when the registry is down or the bytes are not in the wire format.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { type CdcError, isCdcError } from '@cdc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { RegistryClient } from '../../src/registry-client.ts';
import { SchemaCache } from '../../src/schema-cache.ts';
import type { AvroRecordSchema } from '../../src/schema-types.ts';
import { AvroSerde } from '../../src/serde.ts';
import { frame } from '../../src/wire-format.ts';

const url = localEndpoints().registry.url;
const run = randomUUID().slice(0, 8);
const subject = (name: string) => `it.serde.${run}.${name}-value`;
const created: string[] = [];

const requests: string[] = [];
const client = new RegistryClient({
  url,
  retries: 0,
  onRequest: (method, u) => requests.push(`${method} ${u.slice(url.length)}`),
});
const serde = new AvroSerde({ registry: client });

async function confluent<T>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function failure(p: Promise<unknown>): Promise<CdcError> {
  try {
    await p;
  } catch (err) {
    if (isCdcError(err)) return err;
    throw err;
  }
  throw new Error('expected a CdcError');
}

/** Counts the HTTP requests `fn` makes through the client. */
async function requestsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const before = requests.length;
  await fn();
  return requests.slice(before);
}

const ns = `it.serde.r${run}`;
const orderV1: AvroRecordSchema = {
  type: 'record',
  name: 'Order',
  namespace: ns,
  fields: [
    { name: 'id', type: 'long' },
    { name: 'customer', type: 'string' },
    { name: 'total', type: { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 } },
    { name: 'createdAt', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'day', type: { type: 'int', logicalType: 'date' } },
    { name: 'ref', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'placedAtMs', type: { type: 'long', logicalType: 'timestamp-millis' } },
  ],
};
const orderV2: AvroRecordSchema = {
  ...orderV1,
  fields: [...orderV1.fields, { name: 'coupon', type: ['null', 'string'], default: null }],
};
const orderV3NoDefault: AvroRecordSchema = {
  ...orderV2,
  fields: [...orderV2.fields, { name: 'warehouse', type: 'string' }],
};
const order = {
  id: 9_007_199_254_740_993n, // beyond 2^53: kept exactly
  customer: 'ada',
  total: Buffer.from([0x30, 0x39]), // 123.45
  createdAt: 1_700_000_000_123_456n,
  day: 19_675,
  ref: '6f1c2a9e-3b1d-4a47-9d63-2e0c1c9f0a11',
  placedAtMs: 1_700_000_000_123n,
};

afterAll(async () => {
  for (const s of created) {
    await confluent('DELETE', `/subjects/${encodeURIComponent(s)}`);
    await confluent('DELETE', `/subjects/${encodeURIComponent(s)}?permanent=true`);
  }
  const { body: left } = await confluent<string[]>('GET', '/subjects');
  expect(left.filter((s) => s.includes(run))).toEqual([]);
});

describe('Avro serde on the schema registry', () => {
  const ORDERS = subject('orders');
  created.push(ORDERS);
  let v1Id = 0;

  it('registers the schema on first use and writes the Confluent wire format', async () => {
    const sent = await requestsDuring(async () => {
      const bytes = await serde.serialize(ORDERS, orderV1, order);
      expect(bytes[0]).toBe(0);
      v1Id = bytes.readInt32BE(1);
    });
    expect(sent).toEqual([`POST /subjects/${encodeURIComponent(ORDERS)}/versions`]);
    const { body } = await confluent<{ id: number; version: number }>(
      'GET',
      `/subjects/${encodeURIComponent(ORDERS)}/versions/latest`,
    );
    expect(body).toMatchObject({ id: v1Id, version: 1 });
  });

  it('serves the id from its cache afterwards: no HTTP request on the hot path', async () => {
    const sent = await requestsDuring(async () => {
      for (let i = 0; i < 100; i++) await serde.serialize(ORDERS, orderV1, { ...order, id: BigInt(i) });
      const writer = await serde.writerFor(ORDERS, orderV1);
      expect(writer.schemaId).toBe(v1Id);
      writer.encode(order);
    });
    expect(sent).toEqual([]);
  });

  it('decodes with the writer schema fetched once by id, then from its cache', async () => {
    const bytes = await serde.serialize(ORDERS, orderV1, order);
    const reader = new AvroSerde({ registry: client });
    const first = await requestsDuring(async () => expect(await reader.deserialize(bytes)).toEqual(order));
    expect(first).toEqual([`GET /schemas/ids/${v1Id}`]);
    const again = await requestsDuring(async () => {
      for (let i = 0; i < 100; i++) await reader.deserialize(bytes);
    });
    expect(again).toEqual([]);
  });

  it('registers a compatible evolution (a nullable field with a default) as a new version', async () => {
    const bytes = await serde.serialize(ORDERS, orderV2, { ...order, coupon: 'WELCOME' });
    const v2Id = bytes.readInt32BE(1);
    expect(v2Id).not.toBe(v1Id);
    const { body } = await confluent<number[]>('GET', `/subjects/${encodeURIComponent(ORDERS)}/versions`);
    expect(body).toEqual([1, 2]);
    expect(await serde.deserialize(bytes)).toEqual({ ...order, coupon: 'WELCOME' });
  });

  it('reads old records with a newer reader schema: the new field gets its default', async () => {
    const old = await serde.serialize(ORDERS, orderV1, order);
    const fresh = new AvroSerde({ registry: client });
    expect(await fresh.deserialize(old, { reader: orderV2 })).toEqual({ ...order, coupon: null });
    // The resolver for (writer id, reader) is cached too.
    const sent = await requestsDuring(async () => {
      for (let i = 0; i < 50; i++) await fresh.deserialize(old, { reader: orderV2 });
    });
    expect(sent).toEqual([]);
    // And newer records read with the older schema drop the field they do not know.
    const newer = await serde.serialize(ORDERS, orderV2, { ...order, coupon: 'X' });
    expect(await fresh.deserialize(newer, { reader: orderV1 })).toEqual(order);
  });

  it('rejects an incompatible evolution with SCHEMA_INCOMPATIBLE naming subject, field and rule', async () => {
    const err = await failure(
      serde.serialize(ORDERS, orderV3NoDefault, { ...order, coupon: null, warehouse: 'W1' }),
    );
    expect(err.code).toBe('SCHEMA_INCOMPATIBLE');
    expect(err.retriable).toBe(false);
    expect(err.message).toContain(
      `subject ${ORDERS} (BACKWARD) rejects the new schema: field warehouse: field added without default`,
    );
    expect(err.message).toContain('To fix: give the new field a default');
    expect(err.context).toMatchObject({
      subject: ORDERS,
      level: 'BACKWARD',
      field: 'warehouse',
      rule: 'field-added-without-default',
      version: 2,
    });
    expect(String(err.context.registryMessage)).toMatch(/incompatib/i);
    const { body } = await confluent<number[]>('GET', `/subjects/${encodeURIComponent(ORDERS)}/versions`);
    expect(body).toEqual([1, 2]);
    // A failed registration is not cached: the next attempt asks the registry again.
    const sent = await requestsDuring(() => failure(serde.serialize(ORDERS, orderV3NoDefault, {})));
    expect(sent[0]).toBe(`POST /subjects/${encodeURIComponent(ORDERS)}/versions`);
  });

  it("follows the subject's own compatibility level (FORWARD: removing a field without default)", async () => {
    const FWD = subject('forward');
    created.push(FWD);
    await serde.serialize(FWD, orderV2, { ...order, coupon: null });
    const put = await confluent('PUT', `/config/${encodeURIComponent(FWD)}`, { compatibility: 'FORWARD' });
    expect(put.status).toBe(200);
    const withoutCustomer = { ...orderV2, fields: orderV2.fields.filter((f) => f.name !== 'customer') };
    const err = await failure(serde.serialize(FWD, withoutCustomer, {}));
    expect(err.code).toBe('SCHEMA_INCOMPATIBLE');
    expect(err.context).toMatchObject({
      subject: FWD,
      level: 'FORWARD',
      field: 'customer',
      rule: 'field-removed-without-default',
    });
  });

  it('says SERDE_FAILED, with the record it came from, for bytes that are not in the wire format', async () => {
    const sent = await requestsDuring(async () => {
      const err = await failure(
        serde.deserialize(Buffer.from('{"id":1}'), {
          context: { topic: 'shop.public.orders', partition: 0, offset: 17 },
        }),
      );
      expect(err.code).toBe('SERDE_FAILED');
      expect(err.message).toContain(
        'topic shop.public.orders partition 0 offset 17 is not in the Confluent wire format',
      );
      expect(err.message).toContain('looks like JSON text');
    });
    expect(sent).toEqual([]);
  });

  it('says SERDE_FAILED for a schema id the registry does not have, and for a corrupt body', async () => {
    const missing = await failure(
      serde.deserialize(frame(2_000_000_000, Buffer.from([2])), { context: { topic: 't', offset: 5 } }),
    );
    expect(missing.code).toBe('SERDE_FAILED');
    expect(missing.message).toContain('topic t offset 5 names schema id 2000000000, which the registry');
    const good = await serde.serialize(ORDERS, orderV1, order);
    const corrupt = await failure(serde.deserialize(good.subarray(0, good.length - 3)));
    expect(corrupt.code).toBe('SERDE_FAILED');
    expect(corrupt.message).toContain(`does not decode with its writer schema id ${v1Id}`);
  });

  it('says SERDE_FAILED naming the invalid field when a value does not fit its schema', async () => {
    const err = await failure(
      serde.serialize(ORDERS, orderV1, { ...order, customer: 42 }, { topic: 'shop.public.orders' }),
    );
    expect(err.code).toBe('SERDE_FAILED');
    expect(err.message).toContain('customer: 42 is not a valid "string"');
  });

  it('keeps wrapped unions for a serde that asks for them (MongoDB topics)', async () => {
    const MIXED = subject('mixed');
    created.push(MIXED);
    const doc: AvroRecordSchema = {
      type: 'record',
      name: 'Doc',
      namespace: ns,
      fields: [{ name: 'qty', type: ['null', 'long', 'double'], default: null }],
    };
    const wrapped = new AvroSerde({ registry: client, wrapUnions: true });
    const bytes = await wrapped.serialize(MIXED, doc, { qty: { double: 2 } });
    expect(await new AvroSerde({ registry: client, wrapUnions: true }).deserialize(bytes)).toEqual({
      qty: { double: 2 },
    });
    // A default serde reads the same bytes with the plain value.
    expect(await new AvroSerde({ registry: client }).deserialize(bytes)).toEqual({ qty: 2 });
  });

  it('says SCHEMA_REGISTRY_UNAVAILABLE (retriable) when the registry is down', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const down = new AvroSerde({
      registry: new RegistryClient({ url: `http://127.0.0.1:${port}/apis/ccompat/v7`, retries: 0 }),
    });
    const onWrite = await failure(down.serialize(subject('down'), orderV1, order));
    expect(onWrite.code).toBe('SCHEMA_REGISTRY_UNAVAILABLE');
    expect(onWrite.retriable).toBe(true);
    expect(onWrite.message).toContain(
      `the schema registry at http://127.0.0.1:${port}/apis/ccompat/v7 is unavailable`,
    );
    const onRead = await failure(down.deserialize(frame(v1Id, Buffer.alloc(0))));
    expect(onRead.code).toBe('SCHEMA_REGISTRY_UNAVAILABLE');
    expect(onRead.retriable).toBe(true);
  });
});

describe('the schema cache every wire-format reader shares', () => {
  it('fetches a schema id once however many records wait for it, and builds it once', async () => {
    const ORDERS = subject('cache');
    created.push(ORDERS);
    const bytes = await serde.serialize(ORDERS, orderV1, order);
    const id = bytes.readInt32BE(1);
    let built = 0;
    const cache = new SchemaCache(client, ({ text }) => {
      built++;
      return JSON.parse(text) as AvroRecordSchema;
    });
    expect(cache.get(id)).toBeUndefined();
    const sent = await requestsDuring(async () => {
      const waiting = [cache.prepare(bytes), cache.prepare(bytes), cache.load(id)];
      expect(waiting.every((p) => p !== undefined)).toBe(true);
      await Promise.all(waiting);
    });
    expect(sent).toEqual([`GET /schemas/ids/${id}`]);
    expect(built).toBe(1);
    expect(cache.get(id)?.name).toBe(orderV1.name);
    expect(cache.prepare(bytes)).toBeUndefined();
    expect(cache.prepare(Buffer.from('{"not":"avro"}'))).toBeUndefined();
  });

  it('names the topic and the registry for an id the registry does not have', async () => {
    const cache = new SchemaCache(client, ({ text }) => text);
    const err = await failure(cache.load(2_000_000_000, { topic: 'shop.orders', partition: 1, offset: 7 }));
    expect(err.code).toBe('SERDE_FAILED');
    expect(err.message).toContain('topic shop.orders partition 1 offset 7 names schema id 2000000000');
    expect(err.message).toContain(url);
  });
});

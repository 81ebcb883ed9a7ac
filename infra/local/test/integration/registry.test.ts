/**
 * The local schema registry behaves as a Confluent Schema Registry does for the product's Avro
 * path, seen through @kafkajs/confluent-schema-registry: schema ids, the wire format, ids shared
 * across subjects, compatibility checks per subject set through the config endpoint, and the
 * 409 a client sees for an incompatible schema.
 */
import { randomUUID } from 'node:crypto';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../src/endpoints.ts';

const url = localEndpoints().registry.url;
const run = randomUUID().slice(0, 8);
const subject = (name: string) => `it.registry.${run}.${name}-value`;
const ORDERS = subject('orders');
const ORDERS_COPY = subject('orders-copy');
const EVOLVING = subject('evolving');
const subjects = [ORDERS, ORDERS_COPY, EVOLVING];

const registry = new SchemaRegistry({ host: url, retry: { retries: 0 } });

const orderV1 = {
  type: 'record' as const,
  name: 'Order',
  namespace: `it.registry.r${run}`,
  fields: [
    { name: 'id', type: 'long' },
    { name: 'customer', type: 'string' },
    { name: 'amount_cents', type: 'int' },
  ],
};
const orderV2 = {
  ...orderV1,
  fields: [...orderV1.fields, { name: 'currency', type: 'string', default: 'EUR' }],
};
const withFieldNoDefault = {
  ...orderV1,
  fields: [...orderV1.fields, { name: 'warehouse', type: 'string' }],
};
const withTypeChange = {
  ...orderV1,
  fields: orderV1.fields.map((f) => (f.name === 'amount_cents' ? { ...f, type: 'string' } : f)),
};

const avroSchema = (schema: object) => ({ type: SchemaType.AVRO as const, schema: JSON.stringify(schema) });

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

/** The HTTP status the client's error carries (mappersmith's ResponseError has `status`). */
async function rejectionStatus(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
  throw new Error('expected the registry to reject the schema, but it accepted it');
}

afterAll(async () => {
  for (const s of subjects) {
    await confluent('DELETE', `/subjects/${encodeURIComponent(s)}`);
    await confluent('DELETE', `/subjects/${encodeURIComponent(s)}?permanent=true`);
  }
  const { body: left } = await confluent<string[]>('GET', '/subjects');
  expect(left.filter((s) => s.includes(run))).toEqual([]);
});

describe('schema registry (Confluent API)', () => {
  let v1Id: number;

  it('registers an Avro schema and serves it back by id', async () => {
    const { id } = await registry.register(avroSchema(orderV1), {
      subject: ORDERS,
      compatibility: COMPATIBILITY.BACKWARD,
    });
    expect(Number.isInteger(id) && id > 0).toBe(true);
    v1Id = id;

    expect(await registry.getLatestSchemaId(ORDERS)).toBe(id);
    const { status, body } = await confluent<{ schema: string }>('GET', `/schemas/ids/${id}`);
    expect(status).toBe(200);
    const served = avro.Type.forSchema(JSON.parse(body.schema));
    expect(served.equals(avro.Type.forSchema(orderV1 as avro.Schema))).toBe(true);
  });

  it('encodes and decodes records in the Confluent wire format', async () => {
    const order = { id: 42, customer: 'ada', amount_cents: 1999 };
    const bytes = await registry.encode(v1Id, order);
    expect(bytes[0]).toBe(0); // magic byte
    expect(bytes.readInt32BE(1)).toBe(v1Id);

    // A fresh client knows nothing: it fetches the writer schema by the id in the bytes.
    const fresh = new SchemaRegistry({ host: url, retry: { retries: 0 } });
    expect(await fresh.decode(bytes)).toEqual(order);

    // The Avro body after the 5-byte header decodes with the schema the registry returns.
    const writer = await fresh.getSchema(v1Id);
    expect((writer as avro.Type).fromBuffer(bytes.subarray(5))).toEqual(order);
  });

  it('gives the same schema the same id under another subject', async () => {
    const { id } = await registry.register(avroSchema(orderV1), { subject: ORDERS_COPY });
    expect(id).toBe(v1Id);
    expect(await registry.getRegistryIdBySchema(ORDERS_COPY, avroSchema(orderV1))).toBe(v1Id);
    const { body } = await confluent<{ subject: string; version: number }[]>(
      'GET',
      `/schemas/ids/${v1Id}/versions`,
    );
    expect(body.map((v) => v.subject).sort()).toEqual([ORDERS, ORDERS_COPY].sort());
  });

  it('accepts a backward-compatible evolution and reads old records with the new schema', async () => {
    const { id: v2Id } = await registry.register(avroSchema(orderV2), { subject: ORDERS });
    expect(v2Id).not.toBe(v1Id);
    const { body: versions } = await confluent<number[]>(
      'GET',
      `/subjects/${encodeURIComponent(ORDERS)}/versions`,
    );
    expect(versions).toEqual([1, 2]);

    const old = await registry.encode(v1Id, { id: 1, customer: 'bob', amount_cents: 5 });
    const read = await registry.decode(old, { [SchemaType.AVRO]: { readerSchema: orderV2 } });
    expect(read).toEqual({ id: 1, customer: 'bob', amount_cents: 5, currency: 'EUR' });
  });

  it('rejects incompatible changes under BACKWARD with HTTP 409', async () => {
    const { body: config } = await confluent<{ compatibilityLevel: string }>(
      'GET',
      `/config/${encodeURIComponent(ORDERS)}`,
    );
    expect(config.compatibilityLevel).toBe('BACKWARD');

    expect(
      await rejectionStatus(registry.register(avroSchema(withFieldNoDefault), { subject: ORDERS })),
    ).toBe(409);
    expect(await rejectionStatus(registry.register(avroSchema(withTypeChange), { subject: ORDERS }))).toBe(
      409,
    );

    // The compatibility endpoint says the same without registering.
    const check = await confluent<{ is_compatible: boolean }>(
      'POST',
      `/compatibility/subjects/${encodeURIComponent(ORDERS)}/versions/latest`,
      { schema: JSON.stringify(withTypeChange) },
    );
    expect(check.status).toBe(200);
    expect(check.body.is_compatible).toBe(false);

    const { body: versions } = await confluent<number[]>(
      'GET',
      `/subjects/${encodeURIComponent(ORDERS)}/versions`,
    );
    expect(versions).toEqual([1, 2]);
  });

  it('applies the compatibility level set per subject through the config endpoint', async () => {
    await registry.register(avroSchema(orderV1), { subject: EVOLVING });
    // The registry-wide default is Confluent's: BACKWARD.
    const global = await confluent<{ compatibilityLevel: string }>('GET', '/config');
    expect(global.body.compatibilityLevel).toBe('BACKWARD');
    expect(await rejectionStatus(registry.register(avroSchema(withTypeChange), { subject: EVOLVING }))).toBe(
      409,
    );

    const put = await confluent<{ compatibility: string }>('PUT', `/config/${encodeURIComponent(EVOLVING)}`, {
      compatibility: 'NONE',
    });
    expect(put.status).toBe(200);
    expect(put.body.compatibility).toBe('NONE');
    const { body: config } = await confluent<{ compatibilityLevel: string }>(
      'GET',
      `/config/${encodeURIComponent(EVOLVING)}`,
    );
    expect(config.compatibilityLevel).toBe('NONE');

    const { id } = await registry.register(avroSchema(withTypeChange), {
      subject: EVOLVING,
      compatibility: COMPATIBILITY.NONE,
    });
    expect(await registry.getLatestSchemaId(EVOLVING)).toBe(id);
    // Other subjects keep the global level.
    expect(await rejectionStatus(registry.register(avroSchema(withTypeChange), { subject: ORDERS }))).toBe(
      409,
    );
  });
});

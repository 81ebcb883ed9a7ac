import type { AvroSchema, AvroSerde, AvroType, SchemaWriter } from '@cdc/avro';
import { HEADER_SIZE, MAGIC_BYTE, unframe } from '@cdc/avro';
import { CdcError, isCdcError } from '@cdc/core';
import type { Serde } from '../serde.ts';

export interface AvroSerdeConfig {
  /** The registry subject of the schema: `<topic>-value` or `<topic>-key` for the topic it serves. */
  subject: string;
  /**
   * The schema values are written with (registered under `subject` when the `AvroSerde` may
   * register, else looked up) and read into: a record written with another version is resolved
   * to it (Avro schema resolution: defaults filled, unknown fields dropped). Without it the serde
   * only reads, each record as its writer schema has it (a CDC topic read as it comes).
   */
  schema?: AvroSchema | string;
}

/** How records written with one schema id are read: the writer's Type and, when the reader differs, a resolver. */
interface ReadPlan {
  readonly writer: AvroType;
  readonly resolver: ReturnType<AvroType['createResolver']> | null;
}

/**
 * A `Serde` over `AvroSerde` in the Confluent wire format. Both directions are synchronous:
 * the writer schema is registered when the serde is made (so `serialize` never waits), and a
 * schema id that `deserialize` has not seen yet is fetched by `prepare`, which the runtime
 * awaits before deserializing (it returns `undefined`, and costs nothing, once the id is known).
 */
class AvroStreamsSerde<T> implements Serde<T> {
  private readonly avro: AvroSerde;
  private readonly subject: string;
  private readonly writer: SchemaWriter | undefined;
  /** Per writer schema id: how this serde reads it (the schemas themselves: `AvroSerde`'s `SchemaCache`). */
  private readonly plans = new Map<number, ReadPlan>();

  constructor(avro: AvroSerde, subject: string, writer: SchemaWriter | undefined) {
    this.avro = avro;
    this.subject = subject;
    this.writer = writer;
    if (writer) this.plans.set(writer.schemaId, { writer: writer.type, resolver: null });
  }

  serialize(topic: string, value: T | null): Buffer | null {
    if (value === null) return null;
    if (this.writer === undefined) {
      throw new CdcError(
        'SERDE_FAILED',
        `the Avro serde for subject ${this.subject} was made without a schema, so it only reads; pass { schema } to avroSerde to write to ${topic}`,
        { context: { subject: this.subject, topic } },
      );
    }
    return this.writer.encode(value, { topic });
  }

  prepare(topic: string, data: Buffer | null): Promise<void> | undefined {
    // Bytes that are not in the wire format are left to `deserialize`, which explains them.
    if (data === null || data.length < HEADER_SIZE || data[0] !== MAGIC_BYTE) return undefined;
    const schemaId = data.readInt32BE(1);
    // Records waiting for the same id share the registry fetch (`AvroSerde.typeForId`).
    return this.plans.has(schemaId) ? undefined : this.load(schemaId, topic);
  }

  private async load(schemaId: number, topic: string): Promise<void> {
    const writer = await this.avro.typeForId(schemaId, { topic });
    const reader = this.writer?.type;
    let resolver: ReadPlan['resolver'] = null;
    if (reader !== undefined && !reader.equals(writer)) {
      try {
        resolver = reader.createResolver(writer);
      } catch (err) {
        throw new CdcError(
          'SCHEMA_INCOMPATIBLE',
          `records of ${topic} written with schema id ${schemaId} cannot be read into the schema of subject ${this.subject}: ${(err as Error).message}; make the reader schema compatible or read without one`,
          { context: { topic, subject: this.subject, schemaId }, cause: err },
        );
      }
    }
    if (!this.plans.has(schemaId)) this.plans.set(schemaId, { writer, resolver });
  }

  deserialize(topic: string, data: Buffer | null): T | null {
    if (data === null) return null;
    const { schemaId, payload } = unframe(data, { topic });
    const plan = this.plans.get(schemaId);
    if (plan === undefined) {
      throw new CdcError(
        'INVARIANT_VIOLATED',
        `schema id ${schemaId} (topic ${topic}) was never prepared; call prepare(topic, bytes) and await it before deserialize`,
        { context: { topic, schemaId } },
      );
    }
    try {
      const reader = this.writer?.type;
      return (
        plan.resolver === null || reader === undefined
          ? plan.writer.fromBuffer(payload)
          : reader.fromBuffer(payload, plan.resolver)
      ) as T;
    } catch (err) {
      if (isCdcError(err)) throw err;
      throw new CdcError(
        'SERDE_FAILED',
        `a record of ${topic} does not decode with its writer schema id ${schemaId} (${(err as Error).message}): the bytes are corrupt or were framed with the wrong id`,
        { context: { topic, schemaId }, cause: err },
      );
    }
  }
}

/**
 * An Avro `Serde` for one subject, on the schema registry through `avro` (whose caches it
 * shares). With `schema`, registers it first (so this is async) and then writes it and reads
 * into it; without, reads only.
 *
 *   const avro = new AvroSerde({ registry: new RegistryClient({ url }) });
 *   const orders = await avroSerde<Order>(avro, { subject: 'shop.orders-value', schema: ORDER });
 *   builder.stream('shop.orders', { valueSerde: orders });
 */
export async function avroSerde<T>(avro: AvroSerde, config: AvroSerdeConfig): Promise<Serde<T>> {
  const writer =
    config.schema === undefined ? undefined : await avro.writerFor(config.subject, config.schema);
  return new AvroStreamsSerde<T>(avro, config.subject, writer);
}

/**
 * The key and value serdes of a CDC topic, with the subjects the registry's default naming gives
 * it (`<topic>-key`, `<topic>-value`): pass the result to `builder.stream(topic, …)` or
 * `.to(topic, …)`. A side without a schema reads only.
 */
export async function avroSerdes<K, V>(
  avro: AvroSerde,
  topic: string,
  schemas: { key?: AvroSchema | string; value?: AvroSchema | string } = {},
): Promise<{ keySerde: Serde<K>; valueSerde: Serde<V> }> {
  const [keySerde, valueSerde] = await Promise.all([
    avroSerde<K>(avro, { subject: `${topic}-key`, ...(schemas.key ? { schema: schemas.key } : {}) }),
    avroSerde<V>(avro, { subject: `${topic}-value`, ...(schemas.value ? { schema: schemas.value } : {}) }),
  ]);
  return { keySerde, valueSerde };
}

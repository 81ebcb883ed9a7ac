import { AvroSerde, type RegistryClient, type SchemaWriter, unframe } from '@cdc/avro';
import type { Logger } from '@cdc/core';
import type { ProcessingSection } from '@cdc/pipeline';
import type { Serde } from '@cdc/streams';
import { type OutputKey, type OutputRecord, toAvroValue } from './output.ts';
import { outputKeySchema, outputSchema } from './output-schema.ts';
import { envelopeProjection, RegistryReaders } from './registry-serdes.ts';
import { inputTopics, type TopologyIo } from './topology.ts';

/**
 * Avro in and out through the schema registry: the input subjects' schemas are fetched before
 * the topology starts, and each aggregate's output schema (`outputSchema`, the one checked in
 * under `schemas/`) is registered as `<topic>-value` here, at start, so that an incompatible
 * change fails the start with the registry's reason rather than the first emission; its key
 * (`outputKeySchema`) as `<topic>-key`, so that the sink upserts one row per group and window.
 */
export async function avroTopologyIo(
  section: ProcessingSection,
  registry: RegistryClient,
  logger: Logger,
): Promise<TopologyIo> {
  const readers = new RegistryReaders(registry, logger);
  await readers.preload(inputTopics(section));
  const serde = new AvroSerde({ registry, logger });
  const writers = new Map<string, SchemaWriter>();
  const keyWriters = new Map<string, SchemaWriter>();
  for (const a of section.aggregate) {
    const writer = await serde.writerFor(`${a.topic}-value`, outputSchema(a));
    writers.set(a.name, writer);
    keyWriters.set(a.name, await serde.writerFor(`${a.topic}-key`, outputKeySchema(a)));
    logger.info('output schema registered', {
      aggregate: a.name,
      subject: writer.subject,
      schemaId: writer.schemaId,
    });
  }
  return {
    outputKeySerde: (a): Serde<OutputKey> => {
      const writer = keyWriters.get(a.name) as SchemaWriter;
      return {
        serialize: (topic, k) => (k === null ? null : writer.encode(k, { topic })),
        deserialize: (topic, d) =>
          d === null ? null : (writer.type.decode(unframe(d, { topic }).payload, 0).value as OutputKey),
      };
    },
    keySerde: () => readers.keySerde(),
    envelopeSerde: (_topic, afterFields) => readers.valueSerde(envelopeProjection(afterFields)),
    tableRowSerde: () => readers.tableRowSerde(),
    outputSerde: (a): Serde<OutputRecord> => {
      const writer = writers.get(a.name) as SchemaWriter;
      return {
        serialize: (topic, v) => (v === null ? null : writer.encode(toAvroValue(a, v), { topic })),
        deserialize: (topic, d) =>
          d === null ? null : (writer.type.decode(unframe(d, { topic }).payload, 0).value as OutputRecord),
      };
    },
  };
}

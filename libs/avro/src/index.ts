/**
 * @cdc/avro: Avro for the CDC pipeline.
 *
 *   import { envelopeSchema, keySchema } from '@cdc/avro';
 *   const value = envelopeSchema('cdc.shop.public.orders', rowSchema, 'postgresql');
 */
export { avroNamespaceFor, envelopeSchema, keySchema, MONGO_SOURCE_SCHEMA, POSTGRES_SOURCE_SCHEMA } from './envelope.ts';
export type {
  AvroAnnotatedPrimitive,
  AvroArraySchema,
  AvroEnumSchema,
  AvroField,
  AvroFixedSchema,
  AvroMapSchema,
  AvroPrimitive,
  AvroRecordSchema,
  AvroSchema,
} from './schema-types.ts';
export { nullable } from './schema-types.ts';

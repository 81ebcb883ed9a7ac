/**
 * @cdc/avro: Avro for the CDC pipeline.
 *
 *   import { envelopeSchema, keySchema } from '@cdc/avro';
 *   const value = envelopeSchema('cdc.shop.public.orders', rowSchema, 'postgresql');
 */

export {
  COMPATIBILITY_RULES,
  type CompatibilityRule,
  checkCompatibility,
  type Incompatibility,
  type PreviousVersion,
  RULE_FIXES,
  readIssues,
} from './compatibility.ts';
export {
  type CdcPostgresChange,
  DEBEZIUM_LAYOUT_VERSION,
  DEBEZIUM_POSTGRES_SOURCE_SCHEMA,
  debeziumEnvelopeSchema,
  ENVELOPE_FORMATS,
  type EnvelopeFormat,
  toDebeziumPostgres,
} from './debezium.ts';
export {
  avroNamespaceFor,
  envelopeSchema,
  keySchema,
  MONGO_SOURCE_SCHEMA,
  POSTGRES_SOURCE_SCHEMA,
} from './envelope.ts';
export {
  EVOLUTION_POLICIES,
  type EvolutionAction,
  type EvolutionPolicy,
  explainIncompatibility,
  incompatibleSchemaError,
  nextTopicVersion,
  onIncompatibleSchema,
  registerSchema,
  type SchemaIncompatibleContext,
} from './evolution.ts';
export { type MongoCdcType, NULL_FIELDS_FIELD } from './mongo/avro-schema.ts';
export { mongoAvroType } from './mongo/avro-type.ts';
export { comparableDocument } from './mongo/comparable.ts';
export { avroToDocument, mongoUnionText } from './mongo/from-avro.ts';
export {
  InferredSchema,
  type InferredSchemaOptions,
  type InferredSchemaState,
  type ObserveResult,
} from './mongo/inferred-schema.ts';
export {
  doubleText,
  MONGO_KEY_FIELD,
  mongoIdText,
  mongoKey,
  mongoKeySchema,
  mongoKeyToId,
} from './mongo/key.ts';
export { MAX_NESTING } from './mongo/shape.ts';
export { type AvroType, LONG_TYPE, type ParseSchemaOptions, parseSchema } from './parse-schema.ts';
export { MISSING_VALUE_SQL, type PgQueryable, readPgRelation, readPgTypes } from './postgres/catalog.ts';
export {
  type PgColumn,
  type PgRelation,
  type PgType,
  type PgTypeKind,
  qualifiedTypeName,
} from './postgres/relation.ts';
export { derivePgRowSchema, type PgColumnMapping, type PgRowSchema } from './postgres/row-schema.ts';
export {
  civilFromDays,
  civilNumberFromDays,
  dateToText as pgDateToText,
  daysFromCivil,
  type PgInterval,
  timestampToText as pgTimestampToText,
  timestamptzToText as pgTimestamptzToText,
} from './postgres/temporal.ts';
export { INTERVAL_SCHEMA, mapPgType, type TypeMapping } from './postgres/type-mapping.ts';
export {
  type PgTextValue,
  pgColumnValueFromText,
  pgKeyFromRow,
  pgRowFromText,
  pgRowToText,
} from './postgres/values.ts';
export { type Projection, projectSchema } from './projection.ts';
export {
  COMPATIBILITY_LEVELS,
  type CompatibilityLevel,
  RegistryClient,
  type RegistryClientOptions,
  type SubjectVersion,
} from './registry-client.ts';
export { type RegisteredSchema, SchemaCache } from './schema-cache.ts';
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
export { AvroSerde, type AvroSerdeOptions, type DeserializeOptions, type SchemaWriter } from './serde.ts';
export {
  describeRecord,
  frame,
  HEADER_SIZE,
  MAGIC_BYTE,
  type RecordContext,
  unframe,
  type WireFrame,
} from './wire-format.ts';

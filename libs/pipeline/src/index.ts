/**
 * @cdc/pipeline: the one file that describes a deployment.
 *
 *   import { loadPipeline } from '@cdc/pipeline';
 *   const pipeline = loadPipeline('infra/pipelines/demo.yaml');
 *   for (const source of pipeline.sources.postgres) console.log(source.name, source.slot);
 */
export { knownTopics, loadPipeline, type Pipeline, PipelineSchema } from './pipeline.ts';
export { pipelineReference, type ReferenceRow, referenceRows } from './reference.ts';
export {
  type ClickHouseSection,
  ClickHouseSectionSchema,
  type ClickHouseSinkOptions,
  ClickHouseSinkSchema,
} from './sections/clickhouse.ts';
export {
  type ControlSection,
  ControlSectionSchema,
  type ControlToken,
  ControlTokenSchema,
} from './sections/control.ts';
export { type MongoSource, MongoSourceSchema } from './sections/mongo-source.ts';
export {
  POSTGRES_SESSION_OPTIONS,
  type PostgresSource,
  PostgresSourceSchema,
  postgresClientConfig,
} from './sections/postgres-source.ts';
export {
  AGGREGATION_FUNCTIONS,
  type AggregateDeclaration,
  AggregateSchema,
  type AggregationDeclaration,
  DurationSchema,
  type EnrichDeclaration,
  type EnrichJoin,
  EnrichSchema,
  type FilterCondition,
  type ProcessingSection,
  ProcessingSectionSchema,
  type WindowDeclaration,
} from './sections/processing.ts';
export { DEFAULT_MAX_RECORD_BYTES, MaxRecordBytesSchema } from './sections/record-size.ts';
export { type RegistrySection, RegistrySectionSchema } from './sections/registry.ts';
export { type RestartSection, RestartSectionSchema } from './sections/restart.ts';
export { type TelemetrySection, TelemetrySectionSchema } from './sections/telemetry.ts';
export {
  checkTransforms,
  durationMs,
  ExpressionSchema,
  type Mask,
  MaskSchema,
  type QualityRule,
  QualityRuleSchema,
  RuleActionSchema,
  type TableTransform,
  TableTransformSchema,
  TransformsSchema,
  transformFor,
} from './sections/transforms.ts';
export {
  columnsOf,
  type Expr,
  ExpressionError,
  evaluate,
  type Literal,
  parseExpression,
  passes,
  quoteIdent,
  type RowReader,
  toPostgresSql,
} from './transforms/expression.ts';

/**
 * @cdc/processor: runs the `processing` section of the pipeline file on `@cdc/streams`.
 *
 *   import { buildTopology, jsonTopologyIo } from '@cdc/processor';
 *   import { TopologyTestDriver } from '@cdc/streams/testing';
 *   const topology = buildTopology(pipeline.processing, { io: jsonTopologyIo(), now: Date.now });
 *   const driver = new TopologyTestDriver(topology);
 */
export {
  applyDelta,
  type Delta,
  type GroupState,
  initialState,
  mergeStates,
  results,
} from './aggregation-state.ts';
export { ProcessorApp, type ProcessorAppOptions } from './app.ts';
export { avroTopologyIo } from './avro-io.ts';
export type { Envelope, RowChange, RowVersion } from './change.ts';
export { InteractiveQueries, partitionOf, type QueryTarget } from './interactive-queries.ts';
export { jsonTopologyIo } from './json-io.ts';
export { Membership } from './membership.ts';
export {
  jsonOutputKeySerde,
  jsonOutputSerde,
  type OutputKey,
  type OutputRecord,
  outputKey,
  toJsonValue,
} from './output.ts';
export { outputKeySchema, outputSchema } from './output-schema.ts';
export { QueryRegistry } from './query-registry.ts';
export { RegistryReaders } from './registry-serdes.ts';
export { type BuildOptions, buildTopology, inputTopics, names, type TopologyIo } from './topology.ts';

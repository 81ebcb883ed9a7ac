/**
 * @cdc/operate: what an operator does to a pipeline, as a library. Its two front ends are the
 * `cdc` command (`services/cli`) and the control service's HTTP API (`services/control`); the
 * demo and the benchmarks use it too.
 *
 *   import { StateDir, up, verify, formatVerifyReport } from '@cdc/operate';
 *   const state = new StateDir('.stack/cdc');
 *   await up({ config: 'infra/pipelines/demo.yaml', state, out: console.log });
 *   console.log(formatVerifyReport(await verify({ pipeline, logger })));
 */
export { drained, groupLag, type PartitionLag, readPositions } from './kafka-progress.ts';
export {
  counterIncrease,
  histogramIncrease,
  type PipelineRates,
  pipelineRates,
  type Scrape,
  type SnapshotProgress,
  samplesOf,
  scrapeServices,
} from './pipeline-rates.ts';
export { parsePrometheusText, quantileFromBuckets, type Sample } from './prometheus-text.ts';
export { formatQuality, qualitySummary, type TableQuality } from './quality-summary.ts';
export {
  discardQuarantine,
  formatQuarantine,
  listQuarantine,
  type QuarantineEntry,
  replayQuarantine,
} from './quarantine.ts';
export {
  type Availability,
  availability,
  isServiceName,
  packageCommand,
  REPO_ROOT,
  SERVICES,
  type ServiceName,
  serviceEntry,
  servicesOf,
} from './services.ts';
export { type ServiceExit, type ServiceState, type StackState, StateDir } from './state-dir.ts';
export { formatStatus, gatherStatus, type PipelineStatus, type ServiceStatus, statusOk } from './status.ts';
export { superviseUntilSignalled } from './supervise-loop.ts';
export { down, isAlive, tail, type UpOptions, type UpResult, up } from './supervisor.ts';
export { formatTable } from './table-format.ts';
export { type Probe, probeTelemetry } from './telemetry-probe.ts';
export { sinkTopics, tableFor } from './topics.ts';
export { replicaColumnTypes } from './verify/clickhouse-side.ts';
export {
  type ContinuousState,
  type ContinuousTableState,
  ContinuousVerifier,
  verifyContinuously,
} from './verify/continuous.ts';
export { connectMongo } from './verify/mongo-side.ts';
export {
  compareCollection as compareMongoCollection,
  type MongoTarget,
  Pace,
} from './verify/mongo-verify.ts';
export { connectSource, describeTable, type SourceTable } from './verify/postgres-side.ts';
export {
  compareTable,
  compareTableInMemory,
  compareTableRanges,
  compareTableTuples,
} from './verify/table-compare.ts';
export {
  formatVerifyReport,
  type SourceReport,
  type TableReport,
  type VerifyOptions,
  type VerifyReport,
  verify,
} from './verify/verify.ts';

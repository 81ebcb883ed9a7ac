/**
 * @cdc/cli as a library: what `cdc` does, for programs that drive a pipeline (the demo, the
 * benchmarks, a control plane). The `cdc` command itself is `main.ts`.
 *
 *   import { StateDir, up, verify, formatVerifyReport } from '@cdc/cli';
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
  SERVICES,
  type ServiceName,
  serviceEntry,
  servicesOf,
} from './services.ts';
export { type ServiceExit, type ServiceState, type StackState, StateDir } from './state-dir.ts';
export { gatherStatus, type PipelineStatus, type ServiceStatus } from './status.ts';
export { down, isAlive, tail, type UpOptions, type UpResult, up } from './supervisor.ts';
export { formatTable } from './table-format.ts';
export { type Probe, probeTelemetry } from './telemetry-probe.ts';
export { sinkTopics, tableFor } from './topics.ts';
export { replicaColumnTypes } from './verify/clickhouse-side.ts';
export { connectSource, describeTable, type SourceTable } from './verify/postgres-side.ts';
export {
  compareTableRanges,
  formatVerifyReport,
  type SourceReport,
  type TableReport,
  type VerifyOptions,
  type VerifyReport,
  verify,
} from './verify/verify.ts';

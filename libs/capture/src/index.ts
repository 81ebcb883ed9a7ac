/**
 * @cdc/capture: what every capture service needs, whatever its source.
 *
 * The runtime: a source is a `CaptureConnector` (usually a `SourceCapture`) whose sessions open
 * with the facts `planSession` turns into steps (discard, start, snapshot, stream); the
 * coordinator (`captureSession`, `runCapture`) walks them with the writer, offsets store, paused
 * tables and signal channel every source shares; `captureMain` is a capture service's `main.ts`.
 *
 *   captureMain({ service: 'capture-postgres', kind: 'postgres', label: 'PostgreSQL',
 *     create: (options) => new PostgresCapture(options) });
 *
 * The parts, for a connector's own steps:
 *
 *   const offsets = new OffsetsStore({ kafka, admin, topic: 'cdc.offsets', logger });
 *   await offsets.ensureTopic();
 *   const writer = await ChangeWriter.connect(kafka, { transactionalId: 'capture-postgres-shop', logger });
 *   const last = await offsets.read<MyPosition>('postgres/shop'); // after connecting the writer
 *   const topics = new TopicSchemas({ serde, admin, policy: 'stop', partitions: 3, logger, connector: 'postgresql' });
 *   const { topic, keyWriter, valueWriter } = await topics.prepare('shop.shop.public.orders', row, keyFields);
 *   await writer.commit(
 *     [{ topic, key: keyWriter?.encode(key) ?? null, value: valueWriter.encode(envelope) }],
 *     offsets.positionRecord('postgres/shop', position),
 *   );
 */

export { type CaptureMainOptions, type CaptureUnit, captureMain } from './capture-main.ts';
export {
  ChangeWriter,
  type ChangeWriterOptions,
  type WriterStats,
  type WriteScope,
} from './change-writer.ts';
export type {
  CaptureConnector,
  CaptureOptions,
  ConnectorSession,
  SessionContext,
  SignalHandlers,
} from './connector.ts';
export { captureSession, restartable, runCapture, type SessionEnd } from './coordinator.ts';
export { deadLetterReason, deadLetterRecord, deadLetterTopic } from './dead-letter.ts';
export {
  type CaptureObserver,
  countByTopic,
  noopObserver,
  type TelemetryObserverOptions,
  telemetryObserver,
  withHeaders,
} from './observer.ts';
export { OffsetsStore, type OffsetsStoreOptions, type OutRecord } from './offsets-store.ts';
export { runSessions, type SessionLoopOptions } from './session-loop.ts';
export {
  type DiscardReason,
  type FailReason,
  type History,
  planSession,
  type SessionFacts,
  type SessionStep,
  type SnapshotMode,
} from './session-plan.ts';
export {
  ensureSignalTopic,
  parseSignal,
  SIGNAL_TYPES,
  type Signal,
  SignalChannel,
  type SignalChannelOptions,
  type SignalType,
  sendSignal,
  signalRecord,
} from './signals.ts';
export { SourceCapture } from './source-capture.ts';
export { heldTopic, TablePauses, type TablePausesOptions } from './table-pauses.ts';
export { type PreparedTopic, TopicSchemas, type TopicSchemasOptions } from './topic-schemas.ts';
export { compileDocumentTransform, valueAt } from './transforms/document-transform.ts';
export {
  type GateResult,
  type GateTransform,
  noopQualityObserver,
  type QualityObserver,
  quarantineKey,
  quarantineRecord,
  quarantineTopic,
  RowGate,
  stopError,
} from './transforms/row-gate.ts';
export { UNIQUE_WITHIN_MAX_VALUES } from './transforms/rules.ts';
export {
  type CompiledTransform,
  type CompileOptions,
  compileTableTransform,
  maskFunction,
  type SourceColumn,
  transformFor,
  type Violation,
} from './transforms/table-transform.ts';

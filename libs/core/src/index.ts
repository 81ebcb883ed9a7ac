/**
 * @cdc/core: the vocabulary every package shares, with no I/O of its own beyond reading a
 * config file.
 *
 *   import { CdcError, postgresChangeId, topicFor } from '@cdc/core';
 *   const topic = topicFor('shop', { db: 'shop', schema: 'public', table: 'orders' });
 *   // 'shop.shop.public.orders'
 *   const id = postgresChangeId({ commitLsn: '16/B374D848', index: 3 });
 *   // '00000016b374d848-00000003', the same on every replay
 *   throw new CdcError('SOURCE_POSITION_LOST', 'slot cdc is gone', { context: { slot: 'cdc' } });
 */
export {
  assertValidChangeEvent,
  type ChangeEvent,
  type MongoSourceInfo,
  OPS,
  type Op,
  type PostgresSourceInfo,
  type Row,
  type SnapshotMarker,
  type SourceInfo,
  sanitizeTopicPart,
  topicFor,
} from './change-event.ts';
export {
  claimComment,
  clickHouseColumnName,
  isPlainIdent,
  legacyTableNameForTopic,
  parseClaimComment,
  quoteIdent,
  quoteString,
  sourceColumnName,
  type TableClaim,
  tableNameForTopic,
} from './clickhouse-names.ts';
export { type Clock, ManualClock, systemClock } from './clock.ts';
export {
  applyEnvOverrides,
  closestKey,
  describeIssues,
  editDistance,
  interpolateEnv,
  type LoadConfigOptions,
  loadConfig,
  printableConfig,
  validKeysAt,
} from './config.ts';
export {
  CdcError,
  type CdcErrorOptions,
  ERROR_CODES,
  type ErrorCode,
  type ErrorContext,
  EXIT_NEEDS_FIX,
  isCdcError,
  isRetriable,
  needsFix,
} from './errors.ts';
export {
  createJsonLogger,
  type JsonLoggerOptions,
  type LogFields,
  type Logger,
  type LogLevel,
  noopLogger,
} from './logger.ts';
export {
  comparePostgresPositions,
  formatLsn,
  type LsnText,
  lsnHex,
  type MongoPosition,
  mongoChangeId,
  type ParsedChangeId,
  type PostgresPosition,
  parseChangeId,
  parseLsn,
  postgresChangeId,
  postgresChangeIdAt,
  postgresVersionOf,
  type SourcePosition,
  snapshotChangeId,
  stableJson,
} from './position.ts';
export { isSecretKey, REDACTED, redactSecrets, redactUrlPasswords } from './redact.ts';
export {
  type AttemptFailure,
  backoffDelay,
  type RetryOptions,
  retry,
  type SuperviseOptions,
  supervise,
} from './retry.ts';
export {
  DEAD_LETTER_HEADERS,
  DEFAULT_OFFSETS_TOPIC,
  DEFAULT_SIGNAL_TOPIC,
  DEFAULT_SINK_DEAD_LETTER_TOPIC,
  type DeadLetterReason,
  deadLetterTopic,
  heldTopic,
  isInternalTopic,
  type KnownTopics,
  quarantineTopic,
  readDeadLetter,
  SINK_DEAD_LETTER_HEADERS,
  selectTopics,
  type TopicKind,
  topicKind,
  topicPatterns,
} from './topics.ts';

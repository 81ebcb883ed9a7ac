import { CdcError, type ErrorContext } from '@cdc/core';

/** Broker error types that mean another producer with our transactional id has taken over. */
const FENCED = new Set([
  'INVALID_PRODUCER_EPOCH',
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_ID_MAPPING',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);
/** kafkajs errors that mean the cluster (or the part of it we need) cannot be reached now. */
const UNAVAILABLE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSLockTimeout',
  'KafkaJSTimeout',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSStaleTopicMetadataAssignment',
  'KafkaJSGroupCoordinatorNotFound',
]);

/**
 * Broker error types that describe a passing state of the cluster, so another attempt after a
 * backoff succeeds: metadata not yet propagated after a topic was created, a leader or
 * coordinator being elected or loaded, a rebalance, a transaction still being completed.
 * kafkajs marks some of them retriable but gives up on them after its own few retries, or
 * wraps them in a non-retriable error (`createTopics` right after creating does). Both the
 * protocol's current names and kafkajs' older ones are listed.
 */
export const RETRIABLE_BROKER_ERRORS: ReadonlySet<string> = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'PREFERRED_LEADER_NOT_AVAILABLE',
  'ELIGIBLE_LEADERS_NOT_AVAILABLE',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'REPLICA_NOT_AVAILABLE',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'OFFSET_NOT_AVAILABLE',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'NOT_COORDINATOR',
  'REBALANCE_IN_PROGRESS',
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'UNSTABLE_OFFSET_COMMIT',
  'CONCURRENT_TRANSACTIONS',
  'INVALID_TXN_STATE',
  'REQUEST_TIMED_OUT',
  'NETWORK_EXCEPTION',
  'KAFKA_STORAGE_ERROR',
  'NOT_CONTROLLER',
  'FETCH_SESSION_ID_NOT_FOUND',
  'INVALID_FETCH_SESSION_EPOCH',
  'THROTTLING_QUOTA_EXCEEDED',
  'CORRUPT_MESSAGE',
]);

interface KafkaJsErrorShape {
  name?: string;
  type?: string;
  message?: string;
  retriable?: boolean;
  originalError?: KafkaJsErrorShape;
  cause?: unknown;
}

/** The error and what it wraps, outermost first (kafkajs wraps in `cause`, older paths in `originalError`). */
function chain(err: KafkaJsErrorShape | undefined): KafkaJsErrorShape[] {
  const out: KafkaJsErrorShape[] = [];
  for (let e = err; e && typeof e === 'object' && out.length < 8 && !out.includes(e); ) {
    out.push(e);
    e = e.originalError ?? (e.cause as KafkaJsErrorShape | undefined);
  }
  return out;
}

/** The broker error type, from the error or what it wraps (kafkajs wraps errors in retry errors). */
function brokerType(err: KafkaJsErrorShape | undefined): string | undefined {
  return chain(err).find((e) => e.type)?.type;
}

/**
 * Group coordinator answers to a transaction's offsets (TxnOffsetCommit v3, stamped with the
 * consumer's generation and member id) that mean the consumer group moved on: the partitions
 * whose offsets these are may belong to another member now. The transaction must abort; the
 * producer itself stays usable.
 */
const GROUP_FENCED = new Set(['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);

/** Whether `err` is a group coordinator's refusal of offsets from a stale generation (see GROUP_FENCED). */
export function isGroupFencedError(err: unknown): boolean {
  const type = brokerType(err as KafkaJsErrorShape);
  return type !== undefined && GROUP_FENCED.has(type);
}

export function isFencedError(err: unknown): boolean {
  const type = brokerType(err as KafkaJsErrorShape);
  return type !== undefined && FENCED.has(type);
}

/**
 * A kafkajs error as a `CdcError`: fencing is final (another instance owns the transactional
 * id and this one must stop), an unreachable cluster and a passing cluster state
 * (`RETRIABLE_BROKER_ERRORS`) are retriable, the rest keep kafkajs' own `retriable` verdict.
 */
export function toCdcError(err: unknown, what: string, context: ErrorContext = {}): CdcError {
  if (err instanceof CdcError) return err;
  const e = (err ?? {}) as KafkaJsErrorShape;
  const type = brokerType(e);
  if (type !== undefined && FENCED.has(type)) {
    return new CdcError(
      'KAFKA_FENCED',
      `${what}: fenced by the broker (${type}); another instance with the same transactional id took over, so this one must stop`,
      {
        context: { ...context, brokerError: type },
        cause: err,
      },
    );
  }
  if (chain(e).some((x) => x.name !== undefined && UNAVAILABLE.has(x.name))) {
    return new CdcError(
      'KAFKA_UNAVAILABLE',
      `${what}: Kafka is unreachable (${e.message ?? e.name}); check kafka.brokers and that the cluster is up`,
      {
        retriable: true,
        context,
        cause: err,
      },
    );
  }
  return new CdcError('KAFKA_REQUEST_FAILED', `${what}: ${e.message ?? String(err)}`, {
    retriable: e.retriable === true || (type !== undefined && RETRIABLE_BROKER_ERRORS.has(type)),
    context: { ...context, ...(type ? { brokerError: type } : {}) },
    cause: err,
  });
}

/**
 * Whether another attempt may succeed, for any error a Kafka call can throw: a `CdcError`'s own
 * verdict, else the verdict of `toCdcError` (so a raw kafkajs error that wraps a passing broker
 * state is retriable, and fencing is not).
 */
export function isRetriableKafkaError(err: unknown): boolean {
  if (err instanceof CdcError) return err.retriable;
  const e = err as KafkaJsErrorShape | undefined;
  if (!e || typeof e !== 'object' || !(typeof e.name === 'string' && e.name.startsWith('KafkaJS')))
    return false;
  return toCdcError(err, '').retriable;
}

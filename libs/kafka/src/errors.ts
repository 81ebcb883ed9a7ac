import { CdcError, type ErrorContext } from '@cdc/core';

/** Broker error types that mean another producer with our transactional id has taken over. */
const FENCED = new Set([
  'INVALID_PRODUCER_EPOCH',
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_ID_MAPPING',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);
const UNAVAILABLE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSBrokerNotFound',
  'KafkaJSLockTimeout',
]);

interface KafkaJsErrorShape {
  name?: string;
  type?: string;
  message?: string;
  retriable?: boolean;
  originalError?: KafkaJsErrorShape;
}

/** The innermost broker error type (kafkajs wraps errors in retry errors). */
function brokerType(err: KafkaJsErrorShape | undefined): string | undefined {
  for (let e = err; e; e = e.originalError) if (e.type) return e.type;
  return undefined;
}

export function isFencedError(err: unknown): boolean {
  const type = brokerType(err as KafkaJsErrorShape);
  return type !== undefined && FENCED.has(type);
}

/**
 * A kafkajs error as a `CdcError`: fencing is final (another instance owns the transactional
 * id and this one must stop), an unreachable cluster is retriable, the rest keep kafkajs'
 * own `retriable` verdict.
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
  if (
    e.name !== undefined &&
    (UNAVAILABLE.has(e.name) ||
      (e.originalError?.name !== undefined && UNAVAILABLE.has(e.originalError.name)))
  ) {
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
    retriable: e.retriable === true,
    context: { ...context, ...(type ? { brokerError: type } : {}) },
    cause: err,
  });
}

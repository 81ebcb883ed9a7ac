/**
 * @cdc/kafka: Kafka for the CDC services. kafkajs stays behind this package, so that a faster
 * client with the same API (`@confluentinc/kafka-javascript`) can replace it in one place.
 *
 *   const config = KafkaConfigSchema.parse({ brokers: ['127.0.0.1:19092'] });
 *   const kafka = createKafka(config, logger);
 *   const admin = kafka.admin();
 *   await admin.connect();
 *   await ensureTopics(admin, [{ topic: 'cdc.offsets', config: { 'cleanup.policy': 'compact' } }]);
 *   const producer = await TransactionalProducer.connect(kafka, { transactionalId: 'capture-shop', logger });
 *   await producer.transaction(async (tx) => {
 *     await tx.send({ topic: 'shop.public.orders', messages: [{ key: '1', value: 'v' }] });
 *   });
 */

export type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
export {
  deleteTopicsIfExist,
  endOffsets,
  ensureTopics,
  fetchStableOffsets,
  recordSizeConfig,
  type TopicSpec,
} from './admin.ts';
export {
  BatchConsumer,
  type BatchConsumerOptions,
  type ConsumedRecord,
  offsetBefore,
  offsetRanges,
  partitionKey,
  sameTopics,
} from './batch-consumer.ts';
export { createKafka } from './client.ts';
export { type KafkaConfig, type KafkaConfigInput, KafkaConfigSchema } from './config.ts';
export { onConsumerGaveUp, reopenWhenGivenUp } from './consumer-crash.ts';
export { drained, groupLag, type PartitionLag, pollGroupLag } from './consumer-lag.ts';
export {
  isFencedError,
  isGroupFencedError,
  isRetriableKafkaError,
  RETRIABLE_BROKER_ERRORS,
  toCdcError,
} from './errors.ts';
export {
  type ReadToEndOptions,
  type ReadToEndTracker,
  readTopicToEnd,
  trackReadToEnd,
} from './read-to-end.ts';
export { sendSlices } from './send-slices.ts';
export {
  type ConsumerGroupMetadata,
  createIdempotentProducer,
  IdempotentProducer,
  type RecordSender,
  TransactionalProducer,
  type TransactionalProducerOptions,
  type TransactionScope,
} from './transactional-producer.ts';

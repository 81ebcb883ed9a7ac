/**
 * @cdc/streams: a small Kafka-Streams-like library. The DSL builds a graph, `build()` compiles
 * it into a `Topology`, and a runtime runs it: `KafkaStreams` over Kafka (one task per input
 * partition, LevelDB stores with changelogs, exactly-once transactions), or
 * `TopologyTestDriver` from `@cdc/streams/testing` with no broker.
 *
 *   import { noopLogger } from '@cdc/core';
 *   import { createKafka, KafkaConfigSchema } from '@cdc/kafka';
 *   import { KafkaStreams, Serdes, StreamsBuilder, TimeWindows, type Windowed } from '@cdc/streams';
 *
 *   const builder = new StreamsBuilder({ defaultKeySerde: Serdes.string() });
 *   const customers = builder.table<string, { name: string }>('shop.customers');
 *   builder
 *     .stream<string, { customerId: string; total: number }>('shop.orders')
 *     .selectKey((_k, order) => order.customerId)
 *     .join(customers, (order, customer) => ({ ...order, name: customer.name }))
 *     .groupByKey()
 *     .windowedBy(TimeWindows.tumbling(60_000, { graceMs: 5_000 }))
 *     .count({ emit: 'on-window-close', lateRecordsTopic: 'shop.orders.late' })
 *     .toStream()
 *     .to('shop.orders-per-customer-minute', { keySerde: Serdes.json<Windowed<string>>() });
 *
 *   const kafka = createKafka(KafkaConfigSchema.parse({ brokers: ['127.0.0.1:19092'] }), noopLogger);
 *   const app = new KafkaStreams(builder.build(), {
 *     applicationId: 'orders-per-minute',
 *     kafka,
 *     stateDir: '/var/lib/cdc/streams',
 *     logger: noopLogger,
 *   });
 *   await app.start();
 *   // on SIGTERM: await app.close();
 */
export {
  type ErrorHandler,
  type ErrorHandlers,
  ErrorPolicies,
  type ErrorResponse,
  type RecordFailure,
} from './error-handlers.ts';
export { GlobalKTable } from './global-ktable.ts';
export type { StreamsMetrics } from './internals/task.ts';
export { KGroupedStream } from './kgrouped-stream.ts';
export { BranchedStreams, KStream } from './kstream.ts';
export { KTable } from './ktable.ts';
export {
  type AfterGrace,
  type Consumed,
  type EmitStrategy,
  type Grouped,
  isChangeEventDelete,
  type Materialized,
  type Produced,
  type TableOptions,
  type WindowedMaterialized,
} from './options.ts';
export {
  andThen,
  type Cancellable,
  isPromiseLike,
  type Processor,
  type ProcessorContext,
  type ProcessorSupplier,
  type PunctuationType,
} from './processor.ts';
export {
  type Change,
  type ConsumedRecord,
  type Headers,
  type RecordMetadata,
  recordTimestamp,
  type StreamRecord,
  type TimestampExtractor,
  type Window,
  type Windowed,
} from './record.ts';
export { KafkaStreams, type KafkaStreamsOptions, type KafkaStreamsState } from './runtime/kafka-streams.ts';
export { type Serde, Serdes } from './serde.ts';
export { type AvroSerdeConfig, avroSerde, avroSerdes } from './serdes/avro-serde.ts';
export {
  type KeyValueStore,
  type SessionStore,
  type StoreSpec,
  Stores,
  type StoreType,
  type WindowStore,
} from './stores.ts';
export { StreamsBuilder, type StreamsBuilderOptions } from './streams-builder.ts';
export { type Subtopology, Topology } from './topology.ts';
export { SessionWindows, TimeWindows } from './windows.ts';

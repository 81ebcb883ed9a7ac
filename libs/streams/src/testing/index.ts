/**
 * @cdc/streams/testing: run a topology with no broker.
 *
 *   import { StreamsBuilder, Serdes, TimeWindows } from '@cdc/streams';
 *   import { TopologyTestDriver } from '@cdc/streams/testing';
 *
 *   const builder = new StreamsBuilder();
 *   builder.stream('clicks', { keySerde: Serdes.string() })
 *     .groupByKey()
 *     .windowedBy(TimeWindows.tumbling(60_000, { graceMs: 0 }))
 *     .count({ storeName: 'clicks-per-minute' });
 *   const driver = new TopologyTestDriver(builder.build());
 *   await driver.createInputTopic('clicks', Serdes.string()).pipeInput('alice', {}, 1_000);
 *   await driver.getWindowStore('clicks-per-minute').fetch('alice', 0); // 1
 */
export {
  type TestInputTopic,
  type TestOutputTopic,
  type TestRecord,
  TopologyTestDriver,
  type TopologyTestDriverOptions,
} from './topology-test-driver.ts';

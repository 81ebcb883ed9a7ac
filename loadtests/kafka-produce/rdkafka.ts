/**
 * librdkafka (`@confluentinc/kafka-javascript` 1.10.1, native) as a client of the produce
 * benchmark, loaded from a directory outside the workspace (see ../lib/rdkafka.ts).
 *
 * Two ways to drive it, both transactional (`transactional.id`, init once, begin/commit per
 * transaction) with the Java-compatible partitioner (`murmur2_random`, as kafkajs' default):
 * - its KafkaJS-compatible API (`KafkaJS.Kafka`): `send` of 1,000 records awaited one after the
 *   other, as the other clients are driven (a promise per record underneath);
 * - its native API (`Producer`): `produce()` per record with no delivery callback, then either
 *   `flush()` after every 1,000 (awaited like the others) or only before the commit (librdkafka
 *   batches the whole transaction as it sees fit). A failed record fails the commit.
 */

import { type Measured, startMeter } from '../lib/meter.ts';
import type { Callback, RdError, RdkafkaModule } from '../lib/rdkafka.ts';

export interface BenchRecord {
  key: Buffer;
  value: Buffer;
  traceparent: string;
}

export type RdkafkaMode = 'compat' | 'native-awaited' | 'native-batched';

export interface RunOptions {
  broker: string;
  topic: string;
  id: string;
  txRecords: number;
  send: number;
  data: BenchRecord[];
}

/** Produces `data` in transactions; returns the time and CPU of the produce loop. */
export async function runRdkafka(rd: RdkafkaModule, mode: RdkafkaMode, o: RunOptions): Promise<Measured> {
  return mode === 'compat' ? runCompat(rd, o) : runNative(rd, mode === 'native-batched', o);
}

async function runCompat(rd: RdkafkaModule, o: RunOptions): Promise<Measured> {
  const kafka = new rd.KafkaJS.Kafka({
    kafkaJS: { brokers: [o.broker], clientId: `${o.id}-rdkafka`, logLevel: rd.KafkaJS.logLevel.ERROR },
  });
  // The compatible API always uses murmur2_random, librdkafka's Java-compatible partitioner.
  const producer = kafka.producer({
    kafkaJS: { transactionalId: `${o.id}-rdkafka`, idempotent: true, maxInFlightRequests: 5 },
  });
  await producer.connect();
  const { data } = o;
  const stop = startMeter();
  for (let start = 0; start < data.length; start += o.txRecords) {
    const tx = await producer.transaction();
    const end = Math.min(start + o.txRecords, data.length);
    for (let s = start; s < end; s += o.send) {
      const messages = data
        .slice(s, Math.min(s + o.send, end))
        .map((r) => ({ key: r.key, value: r.value, headers: { traceparent: r.traceparent } }));
      await tx.send({ topic: o.topic, messages });
    }
    await tx.commit();
  }
  const measured = stop();
  await producer.disconnect();
  return measured;
}

const QUEUE_FULL = -184;

async function runNative(rd: RdkafkaModule, batched: boolean, o: RunOptions): Promise<Measured> {
  const producer = new rd.Producer({
    'bootstrap.servers': o.broker,
    'client.id': `${o.id}-rdkafka-native`,
    'transactional.id': `${o.id}-rdkafka-native`,
    'enable.idempotence': true,
    partitioner: 'murmur2_random',
  });
  const call = (f: (cb: Callback) => void) =>
    new Promise<void>((resolve, reject) => f((err) => (err ? reject(err) : resolve())));
  await call((cb) => producer.connect({}, cb));
  await call((cb) => producer.initTransactions(30_000, cb));
  const { data } = o;
  const traceparent = 'traceparent';
  // False when the local queue (100,000 records by default) is full: then let it drain first.
  const tryProduce = (r: BenchRecord): boolean => {
    try {
      producer.produce(o.topic, null, r.value, r.key, null, undefined, [
        { [traceparent]: Buffer.from(r.traceparent) },
      ]);
      return true;
    } catch (err) {
      if ((err as RdError).code !== QUEUE_FULL) throw err;
      return false;
    }
  };
  const stop = startMeter();
  for (let start = 0; start < data.length; start += o.txRecords) {
    await call((cb) => producer.beginTransaction(cb));
    const end = Math.min(start + o.txRecords, data.length);
    for (let s = start; s < end; s += o.send) {
      for (let i = s; i < Math.min(s + o.send, end); i++) {
        while (!tryProduce(data[i] as BenchRecord)) await call((cb) => producer.flush(10_000, cb));
      }
      if (!batched) await call((cb) => producer.flush(30_000, cb));
    }
    if (batched) await call((cb) => producer.flush(30_000, cb));
    await call((cb) => producer.commitTransaction(30_000, cb));
  }
  const measured = stop();
  await call((cb) => producer.disconnect(cb));
  return measured;
}

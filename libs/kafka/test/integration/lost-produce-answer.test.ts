import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { noopLogger } from '@cdc/core';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import {
  deleteTopicsIfExist,
  ensureTopics,
  IdempotentProducer,
  TransactionalProducer,
} from '../../src/index.ts';

// A send whose batch the broker appended but whose answer never came back (the connection
// dropped first) and whose retries ran out. kafkajs gives that batch's sequence numbers back; a
// later batch of as many records on the partition reuses them, and the broker acknowledges it
// as a duplicate of the appended one without appending it: the records are lost, and the send
// reported success. The first test shows this on a bare kafkajs idempotent producer (so that the
// fault below is known to hit); the others show that our producers do not lose the record.
const run = randomUUID().slice(0, 8);
const PRODUCE = 0; // Kafka's api key of Produce requests

/** A kafkajs client whose connections can drop the answers to their next Produce requests. */
function clientDroppingAnswers(name: string): {
  kafka: Kafka;
  dropProduceAnswers(n: number): void;
  dropped(): number;
} {
  let armed = 0;
  let dropped = 0;
  let waiting: Socket | undefined;
  const socketFactory = ({
    host,
    port,
    onConnect,
  }: {
    host: string;
    port: number;
    onConnect: () => void;
  }) => {
    const socket = connect({ host, port }, onConnect);
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      // A request is [size int32][api key int16]…; kafkajs writes each one whole.
      if (armed > 0 && Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === PRODUCE) {
        armed -= 1;
        waiting = socket;
      }
      return write(chunk, ...rest);
    }) as Socket['write'];
    const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
    socket.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event === 'data' && waiting === socket) {
        // The broker answered: the batch is appended. The client never hears of it.
        waiting = undefined;
        dropped += 1;
        socket.destroy(new Error('connection lost before the answer (test)'));
        return true;
      }
      return emit(event, ...args);
    }) as Socket['emit'];
    return socket;
  };
  const kafka = new kafkajs.Kafka({
    clientId: `it-${run}-${name}`,
    brokers: localEndpoints().kafka.brokers,
    socketFactory,
    // One retry (an idempotent producer must have one), whose answer is lost too: the send's
    // retries run out. A retry that got its answer would have been acknowledged, rightly: it
    // goes out under the same sequence numbers as the batch the broker appended.
    retry: { retries: 1, initialRetryTime: 50 },
    logLevel: kafkajs.logLevel.NOTHING,
  });
  return {
    kafka,
    dropProduceAnswers: (n) => {
      armed = n;
    },
    dropped: () => dropped,
  };
}

let admin: Admin;
let reader: Kafka;
const topics = ['bare', 'idempotent', 'transactional'].map((t) => `it.kafka.lost-answer.${t}.${run}`);

async function values(
  topic: string,
  isolation: 'committed' | 'uncommitted' = 'uncommitted',
): Promise<string[]> {
  const end = Number((await admin.fetchTopicOffsets(topic))[0]?.high ?? 0);
  const consumer = reader.consumer({
    groupId: `it-${run}-read-${randomUUID()}`,
    readUncommitted: isolation === 'uncommitted',
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: string[] = [];
  let last = -1;
  await consumer.run({
    eachMessage: async ({ message }) => {
      last = Number(message.offset);
      seen.push(message.value?.toString() ?? '');
    },
  });
  const deadline = Date.now() + 15_000;
  // read_committed stops short of the markers: wait for the records, then a little longer.
  while (last < end - 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1_000));
  await consumer.disconnect();
  return seen;
}

describe('a send whose answer was lost', () => {
  beforeAll(async () => {
    reader = new kafkajs.Kafka({
      clientId: `it-${run}-reader`,
      brokers: localEndpoints().kafka.brokers,
      logLevel: kafkajs.logLevel.NOTHING,
    });
    admin = reader.admin();
    await admin.connect();
    await ensureTopics(
      admin,
      topics.map((topic) => ({ topic, numPartitions: 1 })),
    );
  });
  afterAll(async () => {
    await deleteTopicsIfExist(admin, topics);
    await admin.disconnect();
  });

  it('makes a bare kafkajs idempotent producer drop the next record and report it sent', async () => {
    const topic = topics[0] as string;
    const { kafka, dropProduceAnswers, dropped } = clientDroppingAnswers('bare');
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    dropProduceAnswers(2);
    await expect(producer.send({ topic, acks: -1, messages: [{ value: 'first' }] })).rejects.toThrow();
    expect(dropped()).toBe(2);
    await producer.send({ topic, acks: -1, messages: [{ value: 'second' }] });
    await producer.disconnect();
    expect(await values(topic)).toEqual(['first']);
  });

  it('IdempotentProducer sends the next record under a new producer id: it is written', async () => {
    const topic = topics[1] as string;
    const { kafka, dropProduceAnswers, dropped } = clientDroppingAnswers('idempotent');
    const producer = new IdempotentProducer(kafka);
    await producer.connect();
    dropProduceAnswers(2);
    await expect(producer.send({ topic, acks: -1, messages: [{ value: 'first' }] })).rejects.toThrow();
    expect(dropped()).toBe(2);
    await producer.send({ topic, acks: -1, messages: [{ value: 'second' }] });
    await producer.send({ topic, acks: -1, messages: [{ value: 'third' }] });
    await producer.disconnect();
    expect(await values(topic)).toEqual(['first', 'second', 'third']);
  });

  it('TransactionalProducer ends its session: the failed transaction is aborted and the next session commits its record', async () => {
    const topic = topics[2] as string;
    const { kafka, dropProduceAnswers, dropped } = clientDroppingAnswers('transactional');
    const transactionalId = `it-${run}-lost-answer`;
    const producer = await TransactionalProducer.connect(kafka, { transactionalId, logger: noopLogger });
    dropProduceAnswers(2);
    await expect(
      producer.transaction(async (tx) => {
        await tx.send({ topic, acks: -1, messages: [{ value: 'aborted' }] });
      }),
    ).rejects.toThrow();
    expect(dropped()).toBe(2);
    // The same session would send 'committed' under the aborted batch's sequence numbers.
    await expect(producer.transaction(async () => {})).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE' });
    await producer.disconnect();
    const next = await TransactionalProducer.connect(kafka, { transactionalId, logger: noopLogger });
    await next.transaction(async (tx) => {
      await tx.send({ topic, acks: -1, messages: [{ value: 'committed' }] });
    });
    await next.disconnect();
    expect(await values(topic, 'committed')).toEqual(['committed']);
  });
});

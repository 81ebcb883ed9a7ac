/**
 * Writes changes and the source position that says how far they go in ONE Kafka transaction:
 * a read_committed consumer sees both or neither, so a restarted capture that resumes from
 * the stored position neither loses nor repeats a change. A large source transaction is
 * written as several such transactions (chunks), each with a position that says how far
 * its chunk got.
 *
 *   const writer = await ChangeWriter.connect(kafka, { transactionalId: 'capture-postgres-shop', logger });
 *   await writer.transaction(async (tx) => {
 *     await tx.send(records);
 *     return offsets.positionRecord('postgres/shop', position);
 *   });
 *
 * Any failure aborts the transaction and is rethrown: the caller restarts from the stored
 * position (retrying a failed commit in place could duplicate when the commit did succeed).
 */
import type { Logger } from '@cdc/core';
import { type Kafka, sendSlices, TransactionalProducer, type TransactionScope } from '@cdc/kafka';
import type { OutRecord } from './offsets-store.ts';

/** Messages per produce call (see `transaction`). */
const MAX_MESSAGES_PER_SEND = 1_000;
/** Bytes per produce call (see `sendSlices`): a record larger than this goes alone. */
const MAX_BYTES_PER_SEND = 8 * 1024 * 1024;

export interface ChangeWriterOptions {
  /** Stable per capture: a restarted capture fences its predecessor through it. */
  transactionalId: string;
  logger: Logger;
  /** The broker aborts a dead producer's open transaction after this long (default 60 s). */
  transactionTimeoutMs?: number;
}

export interface WriteScope {
  /** Sends records (grouped per topic, in order) inside the open transaction. */
  send(records: readonly OutRecord[]): Promise<void>;
}

export interface WriterStats {
  transactions: number;
  records: number;
}

export class ChangeWriter {
  private readonly producer: TransactionalProducer;
  readonly stats: WriterStats = { transactions: 0, records: 0 };

  private constructor(producer: TransactionalProducer) {
    this.producer = producer;
  }

  static async connect(kafka: Kafka, options: ChangeWriterOptions): Promise<ChangeWriter> {
    const producer = await TransactionalProducer.connect(kafka, {
      transactionalId: options.transactionalId,
      logger: options.logger,
      ...(options.transactionTimeoutMs === undefined
        ? {}
        : { transactionTimeoutMs: options.transactionTimeoutMs }),
    });
    return new ChangeWriter(producer);
  }

  /**
   * Runs `body` in a Kafka transaction; the record it returns (the position) is written last,
   * then the transaction commits. Throws (after aborting) when anything fails.
   */
  async transaction(body: (scope: WriteScope) => Promise<OutRecord>): Promise<void> {
    let count = 0;
    await this.producer.transaction(async (tx) => {
      const send = async (records: readonly OutRecord[]) => {
        await sendAll(tx, records);
        count += records.length;
      };
      const position = await body({ send });
      await send([position]);
    });
    this.stats.transactions++;
    this.stats.records += count;
  }

  /** One transaction with `records` and then `position`, sent together (one produce request when they fit). */
  async commit(records: readonly OutRecord[], position: OutRecord): Promise<void> {
    const all = [...records, position];
    await this.producer.transaction((tx) => sendAll(tx, all));
    this.stats.transactions++;
    this.stats.records += all.length;
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

type KafkaMessage = {
  key: Buffer | string | null;
  value: Buffer | string | null;
  partition?: number;
  headers?: Record<string, string>;
};

/**
 * Sends `records` in bounded slices (kafkajs groups a send's messages per partition in quadratic
 * time: bounded sends keep that cost linear), in order; each slice with every topic's records in
 * it, so its partitions join the transaction in one request and one produce request carries it
 * (a send per topic took a request of each per topic: the changes' and the position's).
 */
async function sendAll(tx: TransactionScope, records: readonly OutRecord[]): Promise<void> {
  for (const slice of sendSlices(records, MAX_MESSAGES_PER_SEND, MAX_BYTES_PER_SEND)) {
    const topicMessages = [...groupByTopic(slice)].map(([topic, messages]) => ({ topic, messages }));
    await tx.sendBatch({ topicMessages });
  }
}

/** Consecutive runs are kept in order within each topic (per-key order is per topic). */
function groupByTopic(records: readonly OutRecord[]): Map<string, KafkaMessage[]> {
  const out = new Map<string, KafkaMessage[]>();
  for (const r of records) {
    let list = out.get(r.topic);
    if (!list) {
      list = [];
      out.set(r.topic, list);
    }
    list.push({
      key: r.key,
      value: r.value,
      ...(r.partition === undefined ? {} : { partition: r.partition }),
      ...(r.headers === undefined ? {} : { headers: r.headers }),
    });
  }
  return out;
}

/**
 * Counts what the streams runtime's transactions write, without changing the runtime: a Kafka
 * client whose producers hand out transactions that count the records sent per topic and
 * report them when the transaction commits (or report an abort). Records of internal topics
 * (`<applicationId>-…`: changelogs, repartition topics) are left out of the per-topic counts.
 */
import type { Kafka } from '@cdc/kafka';

export interface TransactionHooks {
  committed(perTopic: ReadonlyMap<string, number>, total: number): void;
  aborted(): void;
}

type Producer = ReturnType<Kafka['producer']>;
type Transaction = Awaited<ReturnType<Producer['transaction']>>;
type SendRecord = Parameters<Transaction['send']>[0];
type SendBatch = Parameters<Transaction['sendBatch']>[0];

function countingTransaction(tx: Transaction, internalPrefix: string, hooks: TransactionHooks): Transaction {
  const perTopic = new Map<string, number>();
  let total = 0;
  const count = (topic: string, records: number) => {
    if (topic.startsWith(internalPrefix)) return;
    perTopic.set(topic, (perTopic.get(topic) ?? 0) + records);
    total += records;
  };
  return {
    ...tx,
    send(record: SendRecord) {
      count(record.topic, record.messages.length);
      return tx.send(record);
    },
    sendBatch(batch: SendBatch) {
      for (const t of batch.topicMessages ?? []) count(t.topic, t.messages.length);
      return tx.sendBatch(batch);
    },
    async commit() {
      await tx.commit();
      hooks.committed(perTopic, total);
    },
    async abort() {
      await tx.abort();
      hooks.aborted();
    },
  };
}

/** `kafka`, except that transactional producers count their transactions into `hooks`. */
export function countTransactions(kafka: Kafka, applicationId: string, hooks: TransactionHooks): Kafka {
  const internalPrefix = `${applicationId}-`;
  return new Proxy(kafka, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'producer' || typeof value !== 'function')
        return typeof value === 'function' ? value.bind(target) : value;
      return (...args: Parameters<Kafka['producer']>) => {
        const producer = (value as Kafka['producer']).apply(target, args);
        if (!args[0]?.transactionalId) return producer;
        return {
          ...producer,
          transaction: async () => countingTransaction(await producer.transaction(), internalPrefix, hooks),
        };
      };
    },
  });
}

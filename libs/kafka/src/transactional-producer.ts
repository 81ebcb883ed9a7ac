import { CdcError, type Logger } from '@cdc/core';
import type {
  Kafka,
  Offsets,
  Producer,
  ProducerBatch,
  ProducerRecord,
  RecordMetadata,
  Transaction,
} from 'kafkajs';
import { isFencedError, isGroupFencedError, toCdcError } from './errors.ts';

export interface TransactionalProducerOptions {
  /** Stable per logical writer (e.g. per capture, per processor task): it is what fences zombies. */
  transactionalId: string;
  /** How long the broker waits before aborting an open transaction of a dead producer. */
  transactionTimeoutMs?: number;
  logger: Logger;
}

/** What a transaction body may do: write records and commit consumer offsets atomically with them. */
export interface TransactionScope {
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
  /**
   * Records of several topics in one go: their partitions join the transaction in one request,
   * and each broker gets one produce request for all of them (`send` per topic: one each).
   */
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>;
  /**
   * Commits a consumer group's offsets as part of this transaction (consume-transform-produce).
   * With `consumerGroupMetadata` (the consuming member's generation and member id, as its last
   * group join gave them) the group coordinator refuses the offsets once the group has moved to
   * a newer generation: fencing by group generation (KIP-447, what Kafka Streams'
   * exactly_once_v2 stands on), so that one producer can commit the offsets of every partition
   * its consumer owns. The refusal fails the transaction with `KAFKA_FENCED` and context
   * `fencedBy: 'group-generation'`; the producer itself stays usable.
   */
  sendOffsets(
    offsets: Offsets & { consumerGroupId: string; consumerGroupMetadata?: ConsumerGroupMetadata },
  ): Promise<void>;
}

/** A consumer group member's identity in one generation of the group (from its group join). */
export interface ConsumerGroupMetadata {
  generationId: number;
  memberId: string;
}

/**
 * An idempotent, transactional producer: `transaction(fn)` runs `fn`, then commits, or aborts
 * when `fn` throws. A producer fenced by a newer instance with the same transactional id
 * raises `KAFKA_FENCED` (not retriable) and refuses further work: the caller must stop.
 *
 *   const producer = await TransactionalProducer.connect(kafka, { transactionalId: 'capture-shop', logger });
 *   await producer.transaction(async (tx) => {
 *     await tx.send({ topic: 'shop.public.orders', messages });
 *     await tx.send({ topic: 'cdc.offsets', messages: [position] });
 *   });
 */
export class TransactionalProducer {
  private readonly producer: Producer;
  private readonly options: TransactionalProducerOptions;
  private fenced: CdcError | undefined;
  /**
   * Set when a transaction could neither be committed nor aborted (the broker went away
   * mid-way): kafkajs leaves its transaction state machine in COMMITTING or ABORTING and
   * refuses every later transaction. Only a new producer session (a new `connect`, whose
   * `initTransactions` completes or aborts what was left open) can go on.
   */
  private broken: CdcError | undefined;
  private busy = false;

  private constructor(producer: Producer, options: TransactionalProducerOptions) {
    this.producer = producer;
    this.options = options;
  }

  static async connect(kafka: Kafka, options: TransactionalProducerOptions): Promise<TransactionalProducer> {
    const producer = kafka.producer({
      transactionalId: options.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: options.transactionTimeoutMs ?? 60_000,
      allowAutoTopicCreation: false,
    });
    try {
      await producer.connect();
      // Fence now. kafkajs's connect takes a producer id without the transactional id; the one
      // that fences the id's previous holder (and completes or aborts a transaction it left
      // open) is taken at the first transaction. Until then a previous holder that is still
      // alive (a processor task's owner before a rebalance) can commit, after this holder read
      // the committed offsets and state it starts from: its work is then done twice. A
      // transaction that holds nothing takes the id here; its abort sends nothing.
      const tx = await producer.transaction();
      await tx.abort();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw toCdcError(err, 'connecting the transactional producer', {
        transactionalId: options.transactionalId,
      });
    }
    return new TransactionalProducer(producer, options);
  }

  get transactionalId(): string {
    return this.options.transactionalId;
  }

  async transaction<T>(body: (tx: TransactionScope) => Promise<T>): Promise<T> {
    if (this.fenced) throw this.fenced;
    if (this.broken) throw this.broken;
    if (this.busy) {
      throw new CdcError(
        'INVARIANT_VIOLATED',
        `transactional producer ${this.transactionalId} already has an open transaction`,
        {
          context: { transactionalId: this.transactionalId },
        },
      );
    }
    this.busy = true;
    const context = { transactionalId: this.transactionalId };
    let tx: Transaction;
    try {
      tx = await this.producer.transaction();
    } catch (err) {
      this.busy = false;
      throw this.classify(err, 'beginning a transaction');
    }
    /** Whether a write of records of this transaction failed in Kafka (not the body itself). */
    let writeFailed = false;
    const failed = (err: unknown): never => {
      writeFailed = true;
      throw err;
    };
    try {
      const result = await body({
        send: (record) => tx.send(record).catch(failed),
        sendBatch: (batch) => tx.sendBatch(batch).catch(failed),
        // Offsets take no sequence numbers: a refused or lost TxnOffsetCommit leaves the
        // producer's session sound once the transaction is aborted.
        sendOffsets: (offsets) =>
          (tx.sendOffsets as (o: typeof offsets) => Promise<void>)(offsets).catch((err: unknown) => {
            if (isGroupFencedError(err)) throw groupFenced(err, offsets.consumerGroupId, context);
            throw err;
          }),
      });
      await tx.commit();
      return result;
    } catch (err) {
      const failure = this.classify(err, 'running a transaction');
      if (!this.fenced && tx.isActive()) {
        try {
          await tx.abort();
        } catch (abortErr) {
          const cause = this.classify(abortErr, 'aborting');
          this.options.logger.warn('transaction abort failed; this producer session is over', {
            ...context,
            err: cause,
          });
          this.breakSession(cause);
        }
        // A failed send may have been appended all the same (its answer lost), while kafkajs
        // gave its sequence numbers back: the next transaction's batch for that partition would
        // reuse them and, as long, be taken for a duplicate and dropped (see IdempotentProducer).
        // Only a new session (InitProducerId: a new epoch, sequences from 0) is safe after it.
        if (writeFailed && !this.broken) this.breakSession(failure);
      } else if (!this.fenced && !tx.isActive()) {
        // The commit itself failed: kafkajs is left mid-commit and accepts no new transaction.
        this.breakSession(failure);
      }
      throw failure;
    } finally {
      this.busy = false;
    }
  }

  private breakSession(cause: unknown): void {
    this.broken = new CdcError(
      'KAFKA_UNAVAILABLE',
      `transactional producer ${this.transactionalId}: its last transaction was neither committed nor aborted (${
        cause instanceof Error ? cause.message : String(cause)
      }); a new producer session completes or aborts it`,
      { retriable: true, context: { transactionalId: this.transactionalId }, cause },
    );
  }

  private classify(err: unknown, what: string): unknown {
    if (isFencedError(err)) {
      this.fenced = toCdcError(err, what, { transactionalId: this.transactionalId });
      return this.fenced;
    }
    // Errors thrown by the body itself (not by Kafka) pass through unchanged.
    const name = (err as { name?: string }).name ?? '';
    return name.startsWith('KafkaJS')
      ? toCdcError(err, what, { transactionalId: this.transactionalId })
      : err;
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

function groupFenced(err: unknown, groupId: string, context: { transactionalId: string }): CdcError {
  const type = (err as { type?: string }).type ?? 'ILLEGAL_GENERATION';
  return new CdcError(
    'KAFKA_FENCED',
    `committing offsets of group ${groupId}: the group has moved to a newer generation (${type}); the partitions of these offsets may belong to another member now, so this transaction is aborted`,
    { context: { ...context, groupId, brokerError: type, fencedBy: 'group-generation' }, cause: err },
  );
}

/** What a writer of plain (non-transactional) records needs of a producer. */
export interface RecordSender {
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
}

/**
 * A non-transactional producer that never duplicates on retry (idempotent, ordered), and never
 * loses a record to a send whose outcome it could not learn.
 *
 * kafkajs hands a failed send's sequence numbers back (`sendMessages.js`). When the broker had
 * in fact appended that batch (its answer lost to a dropped connection or a timeout, with the
 * retries used up), the next batch for the partition goes out with the same sequence numbers:
 * with as many records, the broker takes it for a duplicate of the appended one and acknowledges
 * it without appending it. Java's producer bumps its epoch in that case (KIP-360); kafkajs 2.2.4
 * cannot. So after a failed send this producer starts a new producer session (a new producer
 * id, whose sequences start at 0) before it sends again. A retried send may then write its
 * records a second time (at least once), never zero times.
 */
export class IdempotentProducer implements RecordSender {
  private readonly kafka: Kafka;
  private producer: Producer;
  /** Set by a failed send: the next send starts a new producer session first. */
  private renew: Promise<void> | undefined;
  private stale = false;

  constructor(kafka: Kafka) {
    this.kafka = kafka;
    this.producer = this.make();
  }

  private make(): Producer {
    return this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    if (this.stale) {
      this.renew ??= this.newSession().finally(() => {
        this.renew = undefined;
      });
      await this.renew;
    }
    const producer = this.producer;
    try {
      return await producer.send(record);
    } catch (err) {
      // Only the session that failed is renewed (a send of a newer one may fail later, too).
      if (producer === this.producer) this.stale = true;
      throw err;
    }
  }

  private async newSession(): Promise<void> {
    const next = this.make();
    try {
      await next.connect();
    } catch (err) {
      await next.disconnect().catch(() => undefined);
      throw err;
    }
    const old = this.producer;
    this.producer = next;
    this.stale = false;
    await old.disconnect().catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    await this.renew?.catch(() => undefined);
    await this.producer.disconnect();
  }
}

export function createIdempotentProducer(kafka: Kafka): IdempotentProducer {
  return new IdempotentProducer(kafka);
}

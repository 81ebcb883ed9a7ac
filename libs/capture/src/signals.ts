/**
 * The signal channel: commands to a running capture travel as records on a Kafka topic (as
 * Debezium's Kafka signal channel does), so they survive restarts, keep their order and reach
 * whichever instance runs the source. The control service writes them (`sendSignal`); each
 * capture reads the records keyed by its source name (`SignalChannel`) and acts on them.
 *
 * Topic: one partition (one order for every command), key = the source name, value = JSON
 * `{ "v": 1, "id", "type": "pause" | "resume" | "resync", "table", "actor", "at", … }`.
 *
 * Delivery is at least once: the channel's consumer group commits a record once the handler
 * resolved, so a capture that stops mid-command gets it again; every command is idempotent
 * (pausing a paused table, resuming a flowing one and a second resync change nothing visible).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@cdc/core';
import {
  type Admin,
  type Consumer,
  ensureTopics,
  type Kafka,
  type RecordSender,
  reopenWhenGivenUp,
  toCdcError,
} from '@cdc/kafka';

export const SIGNAL_TYPES = ['pause', 'resume', 'resync'] as const;
export type SignalType = (typeof SIGNAL_TYPES)[number];

export interface Signal {
  v: 1;
  /** Unique per command: the audit log and the capture's log name it. */
  id: string;
  type: SignalType;
  /** The source (capture) the command is for: the record's key. */
  source: string;
  /** `schema.table` (PostgreSQL) or the collection (MongoDB). */
  table: string;
  /** Resync only: first and last key (text values of the key columns, inclusive); absent: the whole table. */
  from?: string[];
  to?: string[];
  /**
   * Resync only: these keys (each the text values of the key columns; MongoDB: `_id` as canonical
   * Extended JSON), re-read one by one; a key the source no longer has is written as a delete.
   */
  keys?: string[][];
  /** Who asked (the token's name). */
  actor: string;
  /** ISO time of the request. */
  at: string;
}

/** Creates the signal topic (one partition, so commands to a source keep their order). */
export async function ensureSignalTopic(admin: Admin, topic: string): Promise<void> {
  await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
}

/** A command as its record, with a fresh id. */
export function signalRecord(s: Omit<Signal, 'v' | 'id' | 'at'> & { at?: string }): {
  signal: Signal;
  key: string;
  value: string;
} {
  const signal: Signal = { v: 1, id: randomUUID(), at: new Date().toISOString(), ...s };
  return { signal, key: s.source, value: JSON.stringify(signal) };
}

/** Writes one command to the signal topic and resolves once the broker acknowledged it. */
export async function sendSignal(
  producer: RecordSender,
  topic: string,
  s: Omit<Signal, 'v' | 'id' | 'at'>,
): Promise<Signal> {
  const r = signalRecord(s);
  try {
    await producer.send({ topic, acks: -1, messages: [{ key: r.key, value: r.value }] });
  } catch (err) {
    throw toCdcError(err, `writing a ${s.type} signal to ${topic}`);
  }
  return r.signal;
}

/** A record's value → the signal, or an error naming what is wrong with it. */
export function parseSignal(value: string): Signal {
  const s = JSON.parse(value) as Partial<Signal>;
  if (s.v !== 1 || typeof s.id !== 'string' || typeof s.source !== 'string' || typeof s.table !== 'string')
    throw new Error('a signal needs v: 1, id, source and table');
  if (!SIGNAL_TYPES.includes(s.type as SignalType))
    throw new Error(`unknown signal type ${JSON.stringify(s.type)} (one of ${SIGNAL_TYPES.join(', ')})`);
  if (
    s.keys !== undefined &&
    (!Array.isArray(s.keys) ||
      s.keys.some((k) => !Array.isArray(k) || k.some((x: unknown) => typeof x !== 'string')))
  )
    throw new Error("a signal's keys are a list of keys, each a list of text values of the key columns");
  return s as Signal;
}

export interface SignalChannelOptions {
  kafka: Kafka;
  admin: Admin;
  topic: string;
  /** The source whose commands this reads (records with another key are skipped). */
  source: string;
  /**
   * The consumer group that remembers which commands were done (default
   * `cdc-signals-<topic>-<source>`: pipelines with their own signal topics never share a group).
   */
  groupId?: string;
  logger: Logger;
}

/** Reads a source's commands from the signal topic and hands each to `handle`, in order. */
export class SignalChannel {
  private consumer: Consumer | undefined;
  private readonly o: SignalChannelOptions;

  constructor(options: SignalChannelOptions) {
    this.o = options;
  }

  /**
   * Starts reading; `handle` runs for each of this source's commands (a rejection is retried by
   * the consumer: the command is not lost). A malformed record is logged and skipped.
   */
  async start(handle: (s: Signal) => Promise<void>): Promise<void> {
    await ensureSignalTopic(this.o.admin, this.o.topic);
    await this.open(handle);
  }

  private async open(handle: (s: Signal) => Promise<void>): Promise<void> {
    const { kafka, topic, source, logger } = this.o;
    // A capture killed with -9 leaves its member in the group until its session times out: the
    // broker's shortest session keeps a restarted capture's join short.
    const consumer = kafka.consumer({
      groupId: this.o.groupId ?? `cdc-signals-${topic}-${source}`,
      maxWaitTimeInMs: 250,
      sessionTimeout: 6_000,
      heartbeatInterval: 2_000,
    });
    this.consumer = consumer;
    // kafkajs gave up on it (a broker restarting, say): a new consumer a moment later, so that
    // commands are not left waiting for the next capture session.
    reopenWhenGivenUp(consumer, {
      what: `reading signal topic ${topic}`,
      current: () => this.consumer,
      reopen: () => this.open(handle),
      logger,
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
    } catch (err) {
      throw toCdcError(err, `reading signal topic ${topic}`);
    }
    // Joining the group is not awaited: the capture streams meanwhile, and a command acts where
    // the stream is when it arrives (it is ordered with the data by the capture, not by Kafka).
    void consumer
      .run({
        eachMessage: async ({ message, heartbeat }) => {
          if (message.key?.toString() !== source || message.value === null) return;
          let s: Signal;
          try {
            s = parseSignal(message.value.toString());
          } catch (err) {
            logger.warn('a signal was ignored', {
              topic,
              offset: message.offset,
              reason: (err as Error).message,
            });
            return;
          }
          logger.info('signal received', { id: s.id, type: s.type, table: s.table, actor: s.actor });
          // A long command (a resync re-reading many documents) keeps the group membership alive.
          const beat = setInterval(() => void heartbeat().catch(() => undefined), 2_000);
          try {
            await handle(s);
          } finally {
            clearInterval(beat);
          }
        },
      })
      .catch((err: unknown) => {
        if (this.consumer !== consumer) return;
        logger.warn('reading the signal topic failed: commands wait for the next capture session', {
          topic,
          err: toCdcError(err, `reading signal topic ${topic}`),
        });
      });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    this.consumer = undefined;
  }
}

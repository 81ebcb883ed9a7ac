/**
 * Source positions on a compacted Kafka topic. A capture writes its position as one record in
 * the same Kafka transaction as the changes it describes (`positionRecord`), so the position
 * and the data commit or vanish together; on start it reads the last committed position
 * (`read`) with a read_committed consumer, so an aborted transaction's position never counts.
 *
 * Topic: one partition, `cleanup.policy=compact`, key = the capture's id (e.g.
 * `postgres/shop`), value = JSON `{ "v": 1, "position": … }`.
 *
 * Read only after the transactional producer of the same capture has connected: connecting
 * fences the previous instance and aborts its open transaction, which otherwise holds the
 * topic's last stable offset back until the broker's transaction timeout.
 */
import type { Clock, Logger } from '@cdc/core';
import { type Admin, ensureTopics, type Kafka, readTopicToEnd } from '@cdc/kafka';

export interface OffsetsStoreOptions {
  kafka: Kafka;
  admin: Admin;
  topic: string;
  logger: Logger;
  /** How long `read` may take before it fails (retriable), default 60 s. */
  readTimeoutMs?: number;
  /** Names the one-off reader group (default: the system clock). */
  clock?: Clock;
}

export interface OutRecord {
  topic: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  /** Set for records that must land in one partition whatever their key (null-key tables). */
  partition?: number;
  headers?: Record<string, string>;
}

interface StoredValue<P> {
  v: 1;
  position: P;
}

export class OffsetsStore {
  readonly topic: string;
  private readonly options: OffsetsStoreOptions;

  constructor(options: OffsetsStoreOptions) {
    this.options = options;
    this.topic = options.topic;
  }

  /** Creates the topic (compacted, one partition) or checks that it is compacted. */
  async ensureTopic(): Promise<void> {
    await ensureTopics(this.options.admin, [
      { topic: this.topic, numPartitions: 1, config: { 'cleanup.policy': 'compact' } },
    ]);
  }

  /** The record that stores `position` for `captureId`: send it inside the data's transaction. */
  positionRecord<P>(captureId: string, position: P): OutRecord {
    const value: StoredValue<P> = { v: 1, position };
    return { topic: this.topic, key: captureId, value: JSON.stringify(value), partition: 0 };
  }

  /** The last committed position of `captureId`, or undefined when it never committed one. */
  async read<P>(captureId: string): Promise<P | undefined> {
    const found = await this.readWhere<P>((key) => key === captureId, captureId);
    return found.get(captureId);
  }

  /**
   * The last committed value of every key that starts with `keyPrefix` (e.g. a capture's
   * position and its per-collection state records, `mongo/shop` and `mongo/shop/schema/…`).
   */
  async readAll<P>(keyPrefix: string): Promise<Map<string, P>> {
    return this.readWhere<P>((key) => key.startsWith(keyPrefix), keyPrefix);
  }

  private async readWhere<P>(match: (key: string) => boolean, label: string): Promise<Map<string, P>> {
    const { admin, kafka, logger, readTimeoutMs, clock } = this.options;
    const found = new Map<string, P>();
    await readTopicToEnd(
      kafka,
      this.topic,
      (messages) => {
        for (const m of messages) {
          const key = m.key?.toString();
          if (key === undefined || !match(key)) continue;
          if (m.value === null) {
            found.delete(key);
            continue;
          }
          const stored = JSON.parse(m.value.toString()) as StoredValue<P>;
          found.set(key, stored.position);
        }
      },
      { admin, label: `offsets topic ${this.topic}`, timeoutMs: readTimeoutMs, clock },
    );
    logger.debug('read stored positions', { keys: label, topic: this.topic, found: found.size });
    return found;
  }
}

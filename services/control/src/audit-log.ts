/**
 * The audit log: every request that changes something, and every refused request, as one Avro
 * record on the audit topic (`control.auditTopic`, key = the entry's id). The sink loads the
 * topic like any other into ClickHouse (`cdc_audit` for the default `cdc.audit`), so "who did
 * what, when, with which outcome" is a query. Written before the response is sent: a request
 * whose audit record cannot be written fails (500) rather than going unrecorded.
 *
 * Nothing secret is written: the actor is the token's name, never the token.
 */
import { randomUUID } from 'node:crypto';
import type { AvroRecordSchema, AvroSerde } from '@cdc/avro';
import type { Logger } from '@cdc/core';
import { type Admin, ensureTopics, type RecordSender, toCdcError } from '@cdc/kafka';

export type Outcome = 'ok' | 'failed' | 'denied' | 'unauthenticated';

export interface AuditEntry {
  id: string;
  /** Epoch milliseconds. */
  at: number;
  /** The token's name; `anonymous` without a valid token. */
  actor: string;
  /** The token's role; empty without one. */
  role: string;
  method: string;
  path: string;
  /** What was asked: `pause`, `resume`, `resync`, `replay`, `discard`, `verify`, … (or `read` for a refused read). */
  action: string;
  /** What it was asked of: `shop/public.orders`, a table, … (empty: the pipeline). */
  target: string;
  outcome: Outcome;
  status: number;
  /** The result or the reason, one line. */
  detail: string;
  /** The client's address. */
  remote: string;
}

const KEY_SCHEMA: AvroRecordSchema = {
  type: 'record',
  name: 'AuditKey',
  namespace: 'cdc.control',
  fields: [{ name: 'id', type: 'string' }],
};

const VALUE_SCHEMA: AvroRecordSchema = {
  type: 'record',
  name: 'AuditEntry',
  namespace: 'cdc.control',
  doc: 'A request to the control service that changed something or was refused.',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'actor', type: 'string' },
    { name: 'role', type: 'string' },
    { name: 'method', type: 'string' },
    { name: 'path', type: 'string' },
    { name: 'action', type: 'string' },
    { name: 'target', type: 'string' },
    { name: 'outcome', type: 'string' },
    { name: 'status', type: 'int' },
    { name: 'detail', type: 'string' },
    { name: 'remote', type: 'string' },
  ],
} as AvroRecordSchema;

export interface AuditLogOptions {
  producer: RecordSender;
  admin: Admin;
  serde: AvroSerde;
  topic: string;
  logger: Logger;
}

export class AuditLog {
  private readonly o: AuditLogOptions;

  constructor(options: AuditLogOptions) {
    this.o = options;
  }

  get topic(): string {
    return this.o.topic;
  }

  async ensureTopic(): Promise<void> {
    await ensureTopics(this.o.admin, [{ topic: this.o.topic, numPartitions: 1 }]);
  }

  /** Writes one entry (durably: acks from every in-sync replica) and logs it. */
  async write(e: Omit<AuditEntry, 'id' | 'at'>): Promise<AuditEntry> {
    const entry: AuditEntry = { id: randomUUID(), at: Date.now(), ...e };
    const { serde, producer, topic, logger } = this.o;
    try {
      const key = await serde.serialize(`${topic}-key`, KEY_SCHEMA, { id: entry.id });
      const value = await serde.serialize(`${topic}-value`, VALUE_SCHEMA, entry);
      await producer.send({ topic, acks: -1, messages: [{ key, value }] });
    } catch (err) {
      throw toCdcError(err, `writing the audit record to ${topic}`);
    }
    logger.info('audit', { ...entry });
    return entry;
  }
}

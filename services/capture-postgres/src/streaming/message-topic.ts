/**
 * Logical decoding messages (`pg_logical_emit_message(true, prefix, content)`), captured when
 * `messages: true`: written to `<prefix>.messages` in the transaction that emitted them, in
 * order, with a null key (partition 0). Non-transactional messages are not captured: they
 * have no commit position to store.
 */
import type { AvroRecordSchema, AvroSerde, SchemaWriter } from '@cdc/avro';
import type { OutRecord, TopicSchemas } from '@cdc/capture';
import { formatLsn, postgresChangeId } from '@cdc/core';
import type { LogicalMessage } from '../pgoutput/decoder.ts';
import type { ChangeContext } from './change-records.ts';

export const MESSAGE_SCHEMA: AvroRecordSchema = {
  type: 'record',
  name: 'Message',
  namespace: 'io.cdc.postgresql',
  doc: 'A logical decoding message (pg_logical_emit_message).',
  fields: [
    { name: 'prefix', type: 'string' },
    { name: 'content', type: 'bytes' },
    { name: 'db', type: 'string' },
    { name: 'lsn', type: 'string' },
    { name: 'commitLsn', type: 'string' },
    { name: 'txId', type: ['null', 'string'], default: null },
    { name: 'tsMs', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'changeId', type: 'string' },
  ],
};

export class MessageTopic {
  readonly topic: string;
  private readonly writer: SchemaWriter;

  private constructor(topic: string, writer: SchemaWriter) {
    this.topic = topic;
    this.writer = writer;
  }

  static async create(prefix: string, serde: AvroSerde, topics: TopicSchemas): Promise<MessageTopic> {
    const topic = `${prefix}.messages`;
    await topics.ensureTopic(topic);
    return new MessageTopic(topic, await serde.writerFor(`${topic}-value`, MESSAGE_SCHEMA));
  }

  record(msg: LogicalMessage, ctx: ChangeContext): OutRecord {
    const value = this.writer.encode({
      prefix: msg.prefix,
      content: Buffer.from(msg.content),
      db: ctx.db,
      lsn: formatLsn(msg.lsn),
      commitLsn: formatLsn(ctx.finalLsn),
      txId: String(ctx.xid),
      tsMs: Number(ctx.commitTimeUsec / 1000n),
      changeId: postgresChangeId({ commitLsn: formatLsn(ctx.finalLsn), index: ctx.index }),
    });
    return { topic: this.topic, key: null, value, partition: 0 };
  }
}

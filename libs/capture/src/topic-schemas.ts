/**
 * Where a table's (or collection's) changes go and with which schemas: creates the topic,
 * registers the key and value schemas (subjects `<topic>-key`, `<topic>-value`) and applies
 * the evolution policy when the registry rejects a new value schema:
 *
 * - `stop`: the capture stops with the registry's reason, the field and the fix;
 * - `new-topic-version`: from this change on the table is written to `<topic>.v2` (then
 *   `.v3`…) under fresh subjects. Stateless: after a restart the same walk finds the same
 *   topic version again.
 *
 * Registration happens once per distinct schema (the serde caches it), so a capture calls
 * `prepare` for every relation description it receives without cost.
 */
import type {
  AvroRecordSchema,
  AvroSerde,
  CdcPostgresChange,
  EnvelopeFormat,
  EvolutionPolicy,
  SchemaWriter,
} from '@cdc/avro';
import {
  debeziumEnvelopeSchema,
  envelopeSchema,
  keySchema,
  nextTopicVersion,
  onIncompatibleSchema,
  toDebeziumPostgres,
} from '@cdc/avro';
import { CdcError, isCdcError, type Logger } from '@cdc/core';
import { type Admin, ensureTopics } from '@cdc/kafka';

export interface TopicSchemasOptions {
  serde: AvroSerde;
  admin: Admin;
  policy: EvolutionPolicy;
  /** Partitions of the topics this creates. */
  partitions: number;
  logger: Logger;
  connector: 'postgresql' | 'mongodb';
  /**
   * The value schema around a row schema (default `envelopeSchema(topic, row, connector)`): a
   * capture may add fields of its own (MongoDB's `updateDescription`).
   */
  envelope?: (topic: string, row: AvroRecordSchema) => AvroRecordSchema;
  /**
   * `debezium` (PostgreSQL only): values are written in Debezium's envelope
   * (`debeziumEnvelopeSchema`); the capture still builds its own envelope values, which the
   * value writer converts (`toDebeziumPostgres`). Default `cdc`.
   */
  envelopeFormat?: EnvelopeFormat;
  /** Topic-level configuration of the topics this creates (checked on existing ones). */
  topicConfig?: Record<string, string>;
  /**
   * Numeric topic configs raised on the topics this creates or finds when smaller: the record
   * size limit (`recordSizeConfig(maxRecordBytes)` from `@cdc/kafka`).
   */
  atLeast?: Record<string, number>;
}

export interface PreparedTopic {
  topic: string;
  /** Null when the table has no key (its records have a null key and go to partition 0). */
  keyWriter: SchemaWriter | null;
  valueWriter: SchemaWriter;
}

export class TopicSchemas {
  private readonly options: TopicSchemasOptions;
  private readonly ensured = new Set<string>();
  private readonly partitions = new Map<string, number>();

  constructor(options: TopicSchemasOptions) {
    if (options.envelopeFormat === 'debezium' && options.connector !== 'postgresql')
      throw new CdcError(
        'CONFIG_INVALID',
        `envelope: debezium is written by the PostgreSQL capture only, not by ${options.connector}`,
      );
    this.options = options;
  }

  /** Creates `topic` once per process (idempotent). */
  async ensureTopic(topic: string, config: Record<string, string> = {}): Promise<void> {
    if (this.ensured.has(topic)) return;
    await ensureTopics(this.options.admin, [
      {
        topic,
        numPartitions: this.options.partitions,
        config: { ...this.options.topicConfig, ...config },
        ...(this.options.atLeast ? { atLeast: this.options.atLeast } : {}),
      },
    ]);
    this.ensured.add(topic);
  }

  /** The number of partitions of `topic` (cached). */
  async partitionsOf(topic: string): Promise<number> {
    let n = this.partitions.get(topic);
    if (n === undefined) {
      const meta = await this.options.admin.fetchTopicMetadata({ topics: [topic] });
      n = meta.topics[0]?.partitions.length ?? 1;
      this.partitions.set(topic, n);
    }
    return n;
  }

  /**
   * The topic and writers for a table whose rows are `row` and whose key is `keyFields`
   * (empty: no key). `baseTopic` is `<prefix>.<db>.<schema>.<table>`.
   */
  async prepare(
    baseTopic: string,
    row: AvroRecordSchema,
    keyFields: AvroRecordSchema['fields'],
  ): Promise<PreparedTopic> {
    const { serde, logger, connector } = this.options;
    let topic = baseTopic;
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        await this.ensureTopic(topic);
      } catch (err) {
        if (!isCdcError(err, 'KAFKA_TOPIC_INVALID')) throw err;
        // Only this table cannot be written: its changes are dead-lettered with the reason, the
        // other tables go on.
        logger.error('the topic of a table cannot be created: its changes are dead-lettered', {
          topic,
          err,
        });
        return refusedTopic(topic, err);
      }
      try {
        const keyWriter =
          keyFields.length === 0 ? null : await serde.writerFor(`${topic}-key`, keySchema(topic, keyFields));
        const valueWriter =
          this.options.envelopeFormat === 'debezium'
            ? debeziumWriter(await serde.writerFor(`${topic}-value`, debeziumEnvelopeSchema(topic, row)))
            : await serde.writerFor(
                `${topic}-value`,
                this.options.envelope?.(topic, row) ?? envelopeSchema(topic, row, connector),
              );
        if (topic !== baseTopic) logger.warn('writing to a versioned topic', { baseTopic, topic });
        return { topic, keyWriter, valueWriter };
      } catch (err) {
        if (!isCdcError(err, 'SCHEMA_INCOMPATIBLE')) throw err;
        const action = onIncompatibleSchema(this.options.policy, { topic, error: err as CdcError });
        if (action.action === 'stop') throw action.error;
        logger.warn('incompatible schema change: moving to a new topic version', {
          reason: action.reason,
          topic: action.topic,
        });
        topic = nextTopicVersion(topic).topic;
      }
    }
    throw new Error(`no compatible topic version found for ${baseTopic} after 100 versions`);
  }
}

/**
 * The topic of a table whose topic Kafka refuses (`KAFKA_TOPIC_INVALID`): encoding a change
 * throws `POISON_RECORD` with the reason and the fix, so each of its changes is dead-lettered.
 */
function refusedTopic(topic: string, reason: CdcError): PreparedTopic {
  const refuse = (): never => {
    throw new CdcError('POISON_RECORD', reason.message, { context: { topic }, cause: reason });
  };
  const writer = { subject: `${topic}-value`, schemaId: -1, type: undefined as never, encode: refuse };
  return { topic, keyWriter: null, valueWriter: writer };
}

/** The value writer of a Debezium-format topic: converts the capture's envelope values. */
function debeziumWriter(inner: SchemaWriter): SchemaWriter {
  return {
    subject: inner.subject,
    schemaId: inner.schemaId,
    type: inner.type,
    encode: (value, context) => inner.encode(toDebeziumPostgres(value as CdcPostgresChange), context),
  };
}

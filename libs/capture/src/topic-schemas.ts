/**
 * Where a table's (or collection's) changes go and with which schemas: creates the topic,
 * registers the key and value schemas (subjects `<topic>-key`, `<topic>-value`) and applies
 * the evolution policy when the registry rejects a new value schema:
 *
 * - `stop`: the capture stops naming the table, the column, the registry's reason and the fix;
 * - `recreate`: the new schema is registered under the same subject anyway (its compatibility
 *   set to NONE for that one registration, then restored), and `onRecreate` asks for the table
 *   to be read again, so the same topic ends up holding every row in the new schema;
 * - `new-topic-version`: from this change on the table is written to `<topic>.v2` (then
 *   `.v3`…) under fresh subjects. Stateless: after a restart the same walk finds the same
 *   topic version again.
 *
 * A column renamed at the source (same `cdc.attnum`, another name than in the schema registered
 * before) gets `aliases` and `cdc.renamedFrom` (see `renames.ts`): a compatible change, and the
 * sink renames its column.
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
import { columnsByAttnum, columnsOfRow, type KnownColumn, withRenames } from './renames.ts';

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
  /**
   * `recreate`: called once the incompatible schema of `topic` is registered under its subject,
   * to have every row of the table written again in it (PostgreSQL: a resync request).
   */
  onRecreate?: (topic: string, row: AvroRecordSchema) => Promise<void>;
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
  /** Per topic, the columns (by `attnum`) of the row schema last registered or prepared. */
  private readonly columns = new Map<string, Map<number, KnownColumn>>();

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
    const registeredAnyway = new Set<string>();
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
      const key = keyFields.length === 0 ? null : keySchema(topic, keyFields);
      const named = withRenames(row, await this.columnsBefore(topic));
      const value =
        this.options.envelopeFormat === 'debezium'
          ? debeziumEnvelopeSchema(topic, named)
          : (this.options.envelope?.(topic, named) ?? envelopeSchema(topic, named, connector));
      try {
        const keyWriter = key === null ? null : await serde.writerFor(`${topic}-key`, key);
        const valueWriter =
          this.options.envelopeFormat === 'debezium'
            ? debeziumWriter(await serde.writerFor(`${topic}-value`, value))
            : await serde.writerFor(`${topic}-value`, value);
        if (topic !== baseTopic) logger.warn('writing to a versioned topic', { baseTopic, topic });
        if (registeredAnyway.size > 0) await this.options.onRecreate?.(topic, row);
        if (named !== row) logger.info('columns renamed', { topic, columns: renamedColumns(named) });
        this.columns.set(topic, columnsOfRow(row));
        return { topic, keyWriter, valueWriter };
      } catch (err) {
        if (!isCdcError(err, 'SCHEMA_INCOMPATIBLE')) throw err;
        const table = typeof row['cdc.table'] === 'string' ? row['cdc.table'] : topic;
        const action = onIncompatibleSchema(this.options.policy, { topic, error: err as CdcError, table });
        if (action.action === 'stop') throw action.error;
        if (action.action === 'recreate') {
          const subject = String(err.context.subject ?? `${topic}-value`);
          if (registeredAnyway.has(subject)) throw err;
          logger.warn(
            'incompatible schema change: registering it under the same subject (schemaEvolution: recreate)',
            {
              topic,
              reason: action.reason,
            },
          );
          await this.registerAnyway(subject, subject.endsWith('-key') && key ? key : value);
          registeredAnyway.add(subject);
          continue;
        }
        logger.warn('incompatible schema change: moving to a new topic version', {
          reason: action.reason,
          topic: action.topic,
        });
        topic = nextTopicVersion(topic).topic;
      }
    }
    throw new Error(`no compatible topic version found for ${baseTopic} after 100 versions`);
  }

  /**
   * The columns of the row schema this topic had before: the last one prepared, else the latest
   * version registered (so a rename is recognised across a restart too).
   */
  private async columnsBefore(topic: string): Promise<Map<number, KnownColumn>> {
    let known = this.columns.get(topic);
    if (known === undefined) {
      const latest = await this.options.serde.registry.version(`${topic}-value`, 'latest');
      known = latest ? columnsByAttnum(latest.schema) : new Map();
      this.columns.set(topic, known);
    }
    return known;
  }

  /**
   * Registers `schema` under `subject` although the subject's compatibility level rejects it:
   * the level is NONE for this one registration, then set back to what it was.
   */
  private async registerAnyway(subject: string, schema: AvroRecordSchema): Promise<void> {
    const registry = this.options.serde.registry;
    const level = (await registry.compatibilityLevel(subject)) ?? 'BACKWARD';
    await registry.setCompatibilityLevel(subject, 'NONE');
    try {
      await registry.register(subject, schema);
    } finally {
      await registry.setCompatibilityLevel(subject, level);
    }
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

const renamedColumns = (row: AvroRecordSchema): string[] =>
  row.fields
    .filter((f) => typeof f['cdc.renamedFrom'] === 'string')
    .map((f) => `${f['cdc.renamedFrom']} → ${f.name}`);

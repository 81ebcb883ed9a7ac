import { z } from 'zod';
import { MaxRecordBytesSchema } from './record-size.ts';
import { checkTransforms, TransformsSchema } from './transforms.ts';

/** One MongoDB deployment to capture (owned by services/capture-mongo). */
export const MongoSourceSchema = z
  .strictObject({
    /** The capture's logical name: the topic prefix and the key of its stored positions. */
    name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (it is part of topic names)'),
    uri: z.string().regex(/^mongodb(\+srv)?:\/\//, 'a mongodb:// or mongodb+srv:// URI'),
    /** `db` or `db.collection`; empty means every database (but admin, config and local). */
    include: z.array(z.string().regex(/^[^.$\s]+(\.[^$\s]+)?$/, '`db` or `db.collection`')).default([]),
    /**
     * `initial`: snapshot every included collection when nothing is stored yet, then stream;
     * `never`: stream from now on; `when_needed`: as `initial`, and also take a fresh snapshot
     * when the stored resume token is no longer in the server's history.
     */
    snapshot: z.enum(['initial', 'never', 'when_needed']).default('initial'),
    /** The after image of updates: looked up when read, or the server's post-image (needs pre-/post-images on the collection). */
    fullDocument: z.enum(['updateLookup', 'whenAvailable', 'required']).default('updateLookup'),
    /** The before image of updates and deletes (`before`): needs `changeStreamPreAndPostImages` on the collection. */
    fullDocumentBeforeChange: z.enum(['off', 'whenAvailable', 'required']).default('off'),
    /**
     * `deployment`: one change stream for everything included (one resume token); `collection`:
     * one stream per included collection, listed at start (for servers without database or
     * deployment streams); `auto`: `deployment` when the server serves it, else `collection`.
     */
    changeStreams: z.enum(['auto', 'deployment', 'collection']).default('auto'),
    /** Topics are `<topicPrefix>.<db>.<collection>` (default: the name). */
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .optional(),
    /** The compacted topic holding the capture's resume tokens and inferred schemas. */
    offsetsTopic: z.string().default('cdc.offsets'),
    /** Partitions of the collection topics the capture creates. */
    topicPartitions: z.number().int().positive().default(3),
    /** What to do when the registry rejects a collection's widened schema. */
    schemaEvolution: z.enum(['stop', 'new-topic-version']).default('stop'),
    /** At most this many changes per Kafka transaction. */
    maxChangesPerTransaction: z.number().int().positive().default(5_000),
    /**
     * A change whose Avro record is larger is dead-lettered naming its collection, `_id`, size and
     * this limit (default 64 MiB, at most 96 MiB; a 16 MB document fits); the topics get
     * `max.message.bytes` to match.
     */
    maxRecordBytes: MaxRecordBytesSchema,
    /** A sub-document with more fields is kept as Extended JSON; a document with more top-level fields is dead-lettered. */
    maxFieldsPerRecord: z.number().int().positive().default(1000),
    /** How often an idle capture stores the server's newer resume token (so that a restart finds it in the oplog). */
    heartbeatIntervalMs: z.number().int().positive().default(10_000),
    snapshotOptions: z
      .strictObject({
        /** Collections scanned at the same time. */
        parallelism: z.number().int().positive().default(2),
        /** Documents per read and per Kafka transaction. */
        batchSize: z.number().int().positive().default(2_000),
      })
      .prefault({}),
    ...TransformsSchema,
  })
  .superRefine(checkTransforms);
export type MongoSource = z.output<typeof MongoSourceSchema>;

import { DEFAULT_OFFSETS_TOPIC } from '@cdc/core';
import { z } from 'zod';
import { MaxRecordBytesSchema } from './record-size.ts';
import { checkTransforms, TransformsSchema } from './transforms.ts';

/** One MongoDB deployment to capture (owned by services/capture-mongo). */
export const MongoSourceSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (it is part of topic names)')
      .meta({
        description: "The capture's logical name: the topic prefix and the key of its stored positions.",
      }),
    uri: z
      .string()
      .regex(/^mongodb(\+srv)?:\/\//, 'a mongodb:// or mongodb+srv:// URI')
      .meta({ description: 'The connection string; a password in it is a secret, never logged.' }),
    include: z
      .array(z.string().regex(/^[^.$\s]+(\.[^$\s]+)?$/, '`db` or `db.collection`'))
      .default([])
      .meta({
        description: '`db` or `db.collection`; empty means every database (but admin, config and local).',
      }),
    snapshot: z.enum(['initial', 'never', 'when_needed']).default('initial').meta({
      description:
        "`initial`: snapshot every included collection when nothing is stored yet, then stream; `never`: stream from now on; `when_needed`: as `initial`, and also take a fresh snapshot when the stored resume token is no longer in the server's history.",
    }),
    fullDocument: z.enum(['updateLookup', 'whenAvailable', 'required']).default('updateLookup').meta({
      description:
        "The after image of updates: looked up when read, or the server's post-image (needs pre-/post-images on the collection).",
    }),
    fullDocumentBeforeChange: z.enum(['off', 'whenAvailable', 'required']).default('off').meta({
      description:
        'The before image of updates and deletes (`before`): needs `changeStreamPreAndPostImages` on the collection.',
    }),
    changeStreams: z.enum(['auto', 'deployment', 'collection']).default('auto').meta({
      description:
        '`deployment`: one change stream for everything included (one resume token); `collection`: one stream per included collection, listed at start (for servers without database or deployment streams); `auto`: `deployment` when the server serves it, else `collection`.',
    }),
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .optional()
      .meta({ description: 'Topics are `<topicPrefix>.<db>.<collection>` (default: the name).' }),
    offsetsTopic: z
      .string()
      .default(DEFAULT_OFFSETS_TOPIC)
      .meta({ description: "The compacted topic holding the capture's resume tokens and inferred schemas." }),
    topicPartitions: z
      .number()
      .int()
      .positive()
      .default(3)
      .meta({ description: 'Partitions of the collection topics the capture creates.' }),
    schemaEvolution: z
      .enum(['stop', 'new-topic-version'])
      .default('stop')
      .meta({ description: "What to do when the registry rejects a collection's widened schema." }),
    maxChangesPerTransaction: z
      .number()
      .int()
      .positive()
      .default(5_000)
      .meta({ description: 'At most this many changes per Kafka transaction.' }),
    maxRecordBytes: MaxRecordBytesSchema.meta({
      description:
        'A change whose Avro record is larger is dead-lettered naming its collection, `_id`, size and this limit (default 64 MiB, at most 96 MiB; a 16 MB document fits); the topics get `max.message.bytes` to match.',
    }),
    maxFieldsPerRecord: z.number().int().positive().default(1000).meta({
      description:
        'A sub-document with more fields is kept as Extended JSON; a document with more top-level fields is dead-lettered.',
    }),
    heartbeatIntervalMs: z.number().int().positive().default(10_000).meta({
      description:
        "How often an idle capture stores the server's newer resume token (so that a restart finds it in the oplog).",
    }),
    snapshotOptions: z
      .strictObject({
        parallelism: z
          .number()
          .int()
          .positive()
          .default(2)
          .meta({ description: 'Collections scanned at the same time.' }),
        batchSize: z
          .number()
          .int()
          .positive()
          .default(2_000)
          .meta({ description: 'Documents per read and per Kafka transaction.' }),
      })
      .prefault({})
      .meta({ description: 'How the initial snapshot reads the collections.' }),
    ...TransformsSchema,
  })
  .superRefine(checkTransforms);
export type MongoSource = z.output<typeof MongoSourceSchema>;

/**
 * Per collection: its topic, its inferred schema (widened by every document it sees) and the
 * registered writers of the current version. A new version is registered before the first
 * change that needs it is encoded, and its state is written (`stateRecords`) in the Kafka
 * transaction of that change, so that a restarted capture widens from exactly what Kafka has.
 */
import {
  type AvroRecordSchema,
  avroNamespaceFor,
  envelopeSchema,
  InferredSchema,
  type InferredSchemaState,
  MONGO_KEY_FIELD,
} from '@cdc/avro';
import {
  compileDocumentTransform,
  type OffsetsStore,
  type OutRecord,
  type PreparedTopic,
  quarantineTopic,
  type RowGate,
  type TopicSchemas,
} from '@cdc/capture';
import type { Logger } from '@cdc/core';
import { topicFor } from '@cdc/core';
import { type TableTransform, transformFor } from '@cdc/pipeline';
import { schemaStateKey, splitNamespace } from './position.ts';

export interface CollectionRoute {
  ns: string;
  db: string;
  collection: string;
  baseTopic: string;
  inferred: InferredSchema;
  /** Writers of the current schema version (undefined until the first change). */
  prepared: PreparedTopic | undefined;
  /** The version `prepared` was made for. */
  preparedVersion: number;
  /** The schema version whose state Kafka has (0: none yet). */
  committedVersion: number;
}

/**
 * The value schema of a MongoDB topic: the envelope plus `updateDescription` (what an update
 * changed: removed field paths, the `$set` fields as canonical Extended JSON, truncated arrays),
 * null for every other operation.
 */
export function mongoEnvelopeSchema(topic: string, row: AvroRecordSchema): AvroRecordSchema {
  const envelope = envelopeSchema(topic, row, 'mongodb');
  const namespace = avroNamespaceFor(topic);
  return {
    ...envelope,
    fields: [
      ...envelope.fields,
      {
        name: 'updateDescription',
        type: [
          'null',
          {
            type: 'record',
            name: 'UpdateDescription',
            namespace,
            fields: [
              { name: 'removedFields', type: { type: 'array', items: 'string' } },
              {
                name: 'updatedFields',
                type: 'string',
                doc: 'The fields the update set, as canonical MongoDB Extended JSON (dotted paths as keys).',
              },
              {
                name: 'truncatedArrays',
                type: {
                  type: 'array',
                  items: {
                    type: 'record',
                    name: 'TruncatedArray',
                    namespace,
                    fields: [
                      { name: 'field', type: 'string' },
                      { name: 'newSize', type: 'int' },
                    ],
                  },
                },
              },
            ],
          },
        ],
        default: null,
        doc: 'For updates: what the update changed, as the change stream describes it (null when the server does not say).',
      },
    ],
  };
}

export interface CollectionRoutesOptions {
  name: string;
  prefix: string;
  topics: TopicSchemas;
  offsets: OffsetsStore;
  maxFieldsPerRecord: number;
  /** Inferred states read from the offsets topic, by namespace. */
  states: ReadonlyMap<string, InferredSchemaState>;
  logger: Logger;
  /** The collections' transforms and quality rules (every document passes its collection's gate). */
  transforms?: DocumentTransforms;
}

/**
 * The pipeline file's per-collection transforms for this capture (`tables` by `db.collection`),
 * compiled once per collection, and the gate every document passes (snapshot and stream alike).
 */
export class DocumentTransforms {
  readonly gate: RowGate;
  readonly quarantineTopic: string;
  private readonly tables: Record<string, TableTransform>;
  private readonly maskSalt: string | undefined;
  private readonly source: string;
  private readonly compiled = new Map<string, ReturnType<typeof compileDocumentTransform>>();

  constructor(
    settings: { tables: Record<string, TableTransform>; maskSalt?: string | undefined; source: string },
    prefix: string,
    gate: RowGate,
  ) {
    this.tables = settings.tables;
    this.maskSalt = settings.maskSalt;
    this.source = settings.source;
    this.gate = gate;
    this.quarantineTopic = quarantineTopic(prefix);
  }

  get configured(): boolean {
    return Object.keys(this.tables).length > 0;
  }

  for(ns: string): ReturnType<typeof compileDocumentTransform> {
    let t = this.compiled.get(ns);
    if (!t) {
      const entry = this.tables[ns] ? { key: ns, transform: this.tables[ns] } : transformFor(this.tables, ns);
      t = compileDocumentTransform(ns, entry, {
        maskSalt: this.maskSalt,
        where: `sources.mongo[${this.source}].tables`,
      });
      this.compiled.set(ns, t);
      this.gate.watch(t);
    }
    return t;
  }
}

export class CollectionRoutes {
  private readonly o: CollectionRoutesOptions;
  private readonly routes = new Map<string, CollectionRoute>();

  constructor(options: CollectionRoutesOptions) {
    this.o = options;
  }

  get transforms(): DocumentTransforms | undefined {
    return this.o.transforms;
  }

  get(ns: string): CollectionRoute {
    let route = this.routes.get(ns);
    if (route) return route;
    const { db, collection } = splitNamespace(ns);
    const baseTopic = topicFor(this.o.prefix, { db, collection });
    const state = this.o.states.get(ns);
    const inferred = state
      ? InferredSchema.fromJSON(state)
      : InferredSchema.create({
          namespace: avroNamespaceFor(baseTopic),
          maxFieldsPerRecord: this.o.maxFieldsPerRecord,
        });
    route = {
      ns,
      db,
      collection,
      baseTopic,
      inferred,
      prepared: undefined,
      preparedVersion: -1,
      committedVersion: inferred.version,
    };
    this.routes.set(ns, route);
    return route;
  }

  /**
   * Widens the schema with `documents` (a change's before and after images) and makes sure the
   * writers match it. Throws the first document's `CdcError` when one cannot be represented
   * (after registering what the others widened).
   */
  async observe(route: CollectionRoute, documents: readonly unknown[]): Promise<PreparedTopic> {
    let failure: unknown;
    for (const doc of documents) {
      try {
        route.inferred.observe(doc);
      } catch (err) {
        failure ??= err;
      }
    }
    const prepared = await this.ensurePrepared(route);
    if (failure) throw failure;
    return prepared;
  }

  /** The writers of the current version (registers it when new). */
  async ensurePrepared(route: CollectionRoute): Promise<PreparedTopic> {
    if (route.prepared && route.preparedVersion === route.inferred.version) return route.prepared;
    const prepared = await this.o.topics.prepare(route.baseTopic, route.inferred.schema(), [MONGO_KEY_FIELD]);
    if (route.prepared && route.prepared.valueWriter.schemaId !== prepared.valueWriter.schemaId) {
      this.o.logger.info('collection schema widened', {
        collection: route.ns,
        topic: prepared.topic,
        version: route.inferred.version,
        schemaId: prepared.valueWriter.schemaId,
      });
    }
    route.prepared = prepared;
    route.preparedVersion = route.inferred.version;
    return prepared;
  }

  /**
   * The state records of every collection whose schema changed since the last commit, and a
   * function to call once the transaction holding them committed.
   */
  stateRecords(): { records: OutRecord[]; committed: () => void } {
    const records: OutRecord[] = [];
    const versions: [CollectionRoute, number][] = [];
    for (const route of this.routes.values()) {
      const version = route.inferred.version;
      if (version === route.committedVersion) continue;
      records.push(
        this.o.offsets.positionRecord(schemaStateKey(this.o.name, route.ns), route.inferred.toJSON()),
      );
      versions.push([route, version]);
    }
    return {
      records,
      committed: () => {
        for (const [route, version] of versions) route.committedVersion = version;
      },
    };
  }
}

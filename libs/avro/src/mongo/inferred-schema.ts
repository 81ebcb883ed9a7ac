/**
 * The Avro schema of a MongoDB collection, inferred from its documents and widened as they vary.
 *
 *   const inferred = InferredSchema.create({ namespace: avroNamespaceFor(topic) });
 *   for (const doc of [change.fullDocumentBeforeChange, change.fullDocument]) if (doc) inferred.observe(doc);
 *   if (inferred.version !== registeredVersion) register(envelopeSchema(topic, inferred.schema(), 'mongodb'));
 *   const after = inferred.toAvro(change.fullDocument);   // encode with mongoAvroType(schema)
 *   persist(JSON.stringify(inferred));                     // and later InferredSchema.fromJSON(JSON.parse(…))
 *
 * Observe every document of a change (before and after images) *before* converting any of them:
 * a value is only valid for the schema version current when it was converted. Each new version
 * reads the data of the previous ones (BACKWARD): fields are only added, optional with default
 * null; unions only gain branches; an int branch only turns into long or double.
 *
 * A document that cannot be captured (a non-BSON value, an invalid Date, a malformed string,
 * more top-level fields than `maxFieldsPerRecord`) throws a `CdcError` (`SCHEMA_UNSUPPORTED_TYPE`
 * or `POISON_RECORD`) naming the field path, and leaves the state unchanged: dead-letter the
 * document and go on.
 */
import { CdcError } from '@cdc/core';
import type { AvroRecordSchema } from '../schema-types.ts';
import { SchemaEmitter } from './avro-schema.ts';
import { type ClassifiedTree, classifyTree } from './bson-value.ts';
import { isValidAvroName } from './field-names.ts';
import { observeRecord, RecordNames, type RecordShape, recordNamesIn } from './shape.ts';
import { type AvroRecordValue, recordValue } from './to-avro.ts';

export interface InferredSchemaOptions {
  /** The namespace of every named type (e.g. `avroNamespaceFor(topic)`). */
  namespace: string;
  /** The top-level record's name. Default `Document`; nested records are named `<name>_<path>`. */
  name?: string;
  /**
   * At most this many fields per record (default 1000). A sub-document that would take its
   * record past it is kept as Extended JSON instead (documents used as maps, keyed by data,
   * would otherwise add a field, and a schema version, per key); a top-level document that
   * would is dead-lettered.
   */
  maxFieldsPerRecord?: number;
}

/** The persisted form (plain JSON). */
export interface InferredSchemaState {
  format: 1;
  namespace: string;
  maxFieldsPerRecord: number;
  /** How many schema versions were produced: 0 before the first document. */
  version: number;
  root: RecordShape;
}

export interface ObserveResult {
  /** Whether the schema changed: a new version to register. */
  changed: boolean;
  version: number;
  schema: AvroRecordSchema;
}

const NAMESPACE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const DEFAULT_MAX_FIELDS = 1000;

function invalidState(reason: string): CdcError {
  return new CdcError('INVARIANT_VIOLATED', `The persisted schema inference state is unusable: ${reason}.`, {
    context: { reason },
  });
}

export class InferredSchema {
  readonly #state: InferredSchemaState;
  readonly #names: RecordNames;
  #schema: AvroRecordSchema | undefined;

  private constructor(state: InferredSchemaState) {
    this.#state = state;
    this.#names = new RecordNames(recordNamesIn(state.root));
  }

  static create(options: InferredSchemaOptions): InferredSchema {
    const name = options.name ?? 'Document';
    if (!NAMESPACE.test(options.namespace)) {
      throw new CdcError(
        'CONFIG_INVALID',
        `'${options.namespace}' is not an Avro namespace (dot-separated [A-Za-z_][A-Za-z0-9_]*).`,
        {
          context: { namespace: options.namespace },
        },
      );
    }
    if (!isValidAvroName(name)) {
      throw new CdcError(
        'CONFIG_INVALID',
        `'${name}' cannot name the document record: use [A-Za-z_][A-Za-z0-9_]*.`,
        {
          context: { name },
        },
      );
    }
    const max = options.maxFieldsPerRecord ?? DEFAULT_MAX_FIELDS;
    if (!Number.isInteger(max) || max < 1) {
      throw new CdcError('CONFIG_INVALID', `maxFieldsPerRecord must be a positive integer, not ${max}.`, {
        context: { maxFieldsPerRecord: max },
      });
    }
    return new InferredSchema({
      format: 1,
      namespace: options.namespace,
      maxFieldsPerRecord: max,
      version: 0,
      root: { name, fields: [], nullFields: false },
    });
  }

  /** Restores a state saved with `JSON.stringify(inferred)`. */
  static fromJSON(state: unknown): InferredSchema {
    const s = state as Partial<InferredSchemaState> | null;
    if (typeof s !== 'object' || s === null || s.format !== 1) throw invalidState('it is not format 1');
    if (typeof s.namespace !== 'string' || !NAMESPACE.test(s.namespace))
      throw invalidState('the namespace is missing');
    if (!Number.isInteger(s.version) || !Number.isInteger(s.maxFieldsPerRecord))
      throw invalidState('version or maxFieldsPerRecord is missing');
    if (typeof s.root !== 'object' || s.root === null || !Array.isArray(s.root.fields))
      throw invalidState('the root record is missing');
    const copy = structuredClone(s) as InferredSchemaState;
    const inferred = new InferredSchema(copy);
    try {
      inferred.schema();
    } catch (err) {
      throw invalidState(`it does not describe a schema (${(err as Error).message})`);
    }
    return inferred;
  }

  toJSON(): InferredSchemaState {
    return structuredClone(this.#state);
  }

  get version(): number {
    return this.#state.version;
  }

  get namespace(): string {
    return this.#state.namespace;
  }

  /** The current Avro record schema (the value schema of the collection, before the envelope). */
  schema(): AvroRecordSchema {
    this.#schema ??= new SchemaEmitter(this.#state.namespace).record(this.#state.root);
    return this.#schema;
  }

  /** Widens the schema with one document; says whether that made a new version. */
  observe(document: unknown): ObserveResult {
    const tree = this.#classify(document);
    const ctx = { maxFieldsPerRecord: this.#state.maxFieldsPerRecord, names: this.#names, changed: false };
    observeRecord(this.#state.root, tree, ctx);
    const changed = ctx.changed || this.#state.version === 0;
    if (changed) {
      this.#state.version++;
      this.#schema = undefined;
    }
    return { changed, version: this.#state.version, schema: this.schema() };
  }

  /**
   * The Avro value of an observed document under the current schema. Throws
   * `INVARIANT_VIOLATED` for a document that was not observed (a programming error).
   */
  toAvro(document: unknown): AvroRecordValue {
    const tree = this.#classify(document);
    return recordValue(this.#state.root, tree, '', {
      namespace: this.#state.namespace,
      maxFieldsPerRecord: this.#state.maxFieldsPerRecord,
    });
  }

  #classify(document: unknown): Extract<ClassifiedTree, { kind: 'document' }> {
    const tree = classifyTree(document, '');
    if (tree.kind !== 'document') {
      throw new CdcError(
        'POISON_RECORD',
        `A MongoDB document must be an object, not a ${tree.kind}; the record is dead-lettered.`,
        {
          context: { fieldPath: '', valueType: tree.kind },
        },
      );
    }
    const known = new Set(this.#state.root.fields.map((f) => f.name));
    const count = this.#state.root.fields.length + tree.fields.filter(([n]) => !known.has(n)).length;
    if (count > this.#state.maxFieldsPerRecord) {
      throw new CdcError(
        'POISON_RECORD',
        `The document would give the collection's schema ${count} top-level fields, more than maxFieldsPerRecord (${this.#state.maxFieldsPerRecord}); ` +
          'raise the limit if the collection really has that many fields, else the document is dead-lettered.',
        { context: { fieldPath: '', fields: count, maxFieldsPerRecord: this.#state.maxFieldsPerRecord } },
      );
    }
    return tree;
  }
}

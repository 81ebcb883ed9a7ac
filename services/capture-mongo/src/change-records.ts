/**
 * One change (streamed event or snapshot read) → its Kafka records. Key: `{ id: <_id as
 * canonical Extended JSON> }`, so one `_id` always lands in one partition. Value: the envelope
 * (`before`/`after` under the collection's inferred schema, wrapped unions), plus the update
 * description for updates.
 *
 * What cannot be written goes to `<prefix>.dead-letter` with the reason, in the same
 * transaction, and the stream goes on:
 * - a document the inference cannot represent (`SCHEMA_UNSUPPORTED_TYPE`, `POISON_RECORD`);
 * - a record larger than `maxRecordBytes` (the payload then holds the `_id` and the size, not
 *   the document);
 * - an update whose document was gone when the server looked it up (deleted or replaced
 *   since; with `updateLookup` the server reads the document when the event is read): there is
 *   no after image to write, and the later change of that `_id` follows in the stream;
 * - an update without a usable `_id` (mongo-java-server puts the update's operators where the
 *   key belongs; the key is then taken from the looked-up document, and when that is gone too
 *   the event has no key at all).
 */
import { mongoKey } from '@cdc/avro';
import { deadLetterRecord, type OutRecord, quarantineRecord } from '@cdc/capture';
import { CdcError, isCdcError, mongoChangeId, type Op, type SnapshotMarker } from '@cdc/core';
import { BSON, type ChangeStreamDocument } from 'mongodb';

const { EJSON } = BSON;

import { avroNamespaceFor } from '@cdc/avro';
import type { CollectionRoute, CollectionRoutes } from './collections.ts';

export interface RecordContext {
  name: string;
  deadLetterTopic: string;
  maxRecordBytes: number;
  now: number;
}

export interface ChangeInput {
  op: Op;
  changeId: string;
  resumeToken: string;
  tsMs: number;
  txId: string | null;
  snapshot: SnapshotMarker;
  /** What gives the key (`documentKey`, or the document). */
  keyDocument: { _id?: unknown } | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  updateDescription: UpdateDescriptionValue | null;
  /** Why this change cannot be written even before encoding (becomes its dead letter). */
  problem?: CdcError;
}

export interface UpdateDescriptionValue {
  removedFields: string[];
  updatedFields: string;
  truncatedArrays: { field: string; newSize: number }[];
}

export interface Encoded {
  records: OutRecord[];
  deadLettered: boolean;
}

const DEAD_LETTER_CODES = new Set([
  'POISON_RECORD',
  'SERDE_FAILED',
  'SCHEMA_UNSUPPORTED_TYPE',
  'SOURCE_UNSUPPORTED',
]);

/** Encodes one change (a document change; truncates go through `truncateRecords`). */
export async function encodeChange(
  routes: CollectionRoutes,
  route: CollectionRoute,
  change: ChangeInput,
  ctx: RecordContext,
): Promise<Encoded> {
  // Whether `change` holds the projected images already (the collection's transforms applied).
  let projected = false;
  try {
    if (change.problem) throw change.problem;
    if (!change.keyDocument || change.keyDocument._id === undefined) {
      throw new CdcError('POISON_RECORD', `a change of ${route.ns} has no _id, so it has no key`, {
        context: { collection: route.ns },
      });
    }
    const key = mongoKey(change.keyDocument);
    const gated = applyTransforms(routes, route, change, key, ctx);
    if (gated.kind === 'records') return { records: gated.records, deadLettered: false };
    change = gated.change;
    projected = true;
    const extra = gated.extra ?? [];
    const docs = [change.before, change.after].filter((d): d is Record<string, unknown> => d !== null);
    const prepared = await routes.observe(route, docs);
    const ns = avroNamespaceFor(prepared.topic);
    const image = (d: Record<string, unknown> | null) =>
      d === null ? null : { [`${ns}.Value`]: route.inferred.toAvro(d) };
    const value = prepared.valueWriter.encode(
      {
        before: image(change.before),
        after: image(change.after),
        source: {
          connector: 'mongodb',
          name: ctx.name,
          db: route.db,
          collection: route.collection,
          resumeToken: change.resumeToken,
          txId: change.txId === null ? null : { string: change.txId },
          tsMs: change.tsMs,
          snapshot: change.snapshot,
        },
        op: change.op,
        tsMs: ctx.now,
        changeId: change.changeId,
        updateDescription:
          change.updateDescription === null
            ? null
            : { [`${ns}.UpdateDescription`]: change.updateDescription },
      },
      { topic: prepared.topic },
    );
    if (value.length > ctx.maxRecordBytes) {
      throw new CdcError(
        'POISON_RECORD',
        `${route.ns}: the change of _id ${key.id} is ${value.length} bytes as Avro, more than maxRecordBytes (${ctx.maxRecordBytes}); it is dead-lettered and the collection goes on. To capture such documents raise maxRecordBytes of this source (at most 100663296) and replay the dead letter`,
        {
          context: {
            collection: route.ns,
            key: key.id,
            bytes: value.length,
            maxRecordBytes: ctx.maxRecordBytes,
          },
        },
      );
    }
    return {
      records: [{ topic: prepared.topic, key: prepared.keyWriter!.encode(key), value }, ...extra],
      deadLettered: false,
    };
  } catch (err) {
    if (!isCdcError(err) || !DEAD_LETTER_CODES.has(err.code)) throw err;
    // Excluded and masked fields stay out of Kafka here too.
    const t = routes.transforms?.for(route.ns);
    const hidden =
      t?.active && !projected
        ? {
            ...change,
            before: change.before ? t.project(change.before) : null,
            after: change.after ? t.project(change.after) : null,
            updateDescription: null,
          }
        : change;
    return { records: [deadLetter(route, hidden, err, ctx)], deadLettered: true };
  }
}

/**
 * The collection's transforms (when the pipeline file has any for it): a document the filter
 * drops is not written (an update becomes a delete of the `_id`), one that breaks a
 * `quarantine`/`stop` rule goes to the quarantine topic, the others are projected; the update
 * description is left out (its fields would carry excluded or masked values).
 */
function applyTransforms(
  routes: CollectionRoutes,
  route: CollectionRoute,
  change: ChangeInput,
  key: { id: string },
  ctx: RecordContext,
): { kind: 'change'; change: ChangeInput; extra?: OutRecord[] } | { kind: 'records'; records: OutRecord[] } {
  const transforms = routes.transforms;
  const t = transforms?.for(route.ns);
  if (!transforms || !t?.active) return { kind: 'change', change };
  const before = change.before ? t.project(change.before) : null;
  if (change.op === 'd' || change.after === null)
    return { kind: 'change', change: { ...change, before, updateDescription: null } };
  const gated = transforms.gate.apply(t, change.after, key);
  // A later change of a quarantined document that passes makes its quarantine entry stale.
  const resolved: OutRecord[] =
    gated.kind !== 'quarantine' && gated.resolved !== undefined
      ? [{ topic: transforms.quarantineTopic, key: gated.resolved, value: null }]
      : [];
  if (gated.kind === 'write')
    return {
      kind: 'change',
      change: { ...change, before, after: gated.row, updateDescription: null },
      extra: resolved,
    };
  if (gated.kind === 'filtered') {
    if (change.op !== 'u') return { kind: 'records', records: resolved };
    return {
      kind: 'change',
      change: { ...change, op: 'd', before, after: null, updateDescription: null },
      extra: resolved,
    };
  }
  return {
    kind: 'records',
    records: [
      quarantineRecord({
        topic: transforms.quarantineTopic,
        sourceTopic: route.prepared?.topic ?? route.baseTopic,
        table: route.ns,
        key,
        op: change.op,
        changeId: change.changeId,
        result: { ...gated, row: JSON.parse(EJSON.stringify(gated.row, { relaxed: true })) },
        nowMs: ctx.now,
      }),
    ],
  };
}

function deadLetter(
  route: CollectionRoute,
  change: ChangeInput,
  error: CdcError,
  ctx: RecordContext,
): OutRecord {
  const id = change.keyDocument?._id;
  const keyText = id === undefined ? null : EJSON.stringify({ _id: id }, { relaxed: false });
  const images: Record<string, unknown> = {};
  let omitted = 0;
  for (const [name, doc] of [
    ['before', change.before],
    ['after', change.after],
  ] as const) {
    if (doc === null) continue;
    const size = BSON.calculateObjectSize(doc);
    if (size > ctx.maxRecordBytes / 4) {
      omitted += size;
      images[name] = `(omitted: ${size} bytes of BSON)`;
    } else images[name] = EJSON.stringify(doc, { relaxed: false });
  }
  return deadLetterRecord({
    topic: ctx.deadLetterTopic,
    sourceTopic: route.prepared?.topic ?? route.baseTopic,
    changeId: change.changeId,
    error,
    key: keyText,
    payload: {
      collection: route.ns,
      op: change.op,
      changeId: change.changeId,
      resumeToken: change.resumeToken,
      snapshot: change.snapshot,
      documentKey: keyText,
      ...images,
      ...(omitted > 0 ? { omittedBytes: omitted } : {}),
      updateDescription: change.updateDescription,
    },
  });
}

/** A dropped (or renamed-away) collection: a truncate in every partition of its topic. */
export async function truncateRecords(
  routes: CollectionRoutes,
  route: CollectionRoute,
  change: Omit<ChangeInput, 'op' | 'keyDocument' | 'before' | 'after' | 'updateDescription'>,
  partitionsOf: (topic: string) => Promise<number>,
  ctx: RecordContext,
): Promise<OutRecord[]> {
  const prepared = await routes.ensurePrepared(route);
  const value = prepared.valueWriter.encode({
    before: null,
    after: null,
    source: {
      connector: 'mongodb',
      name: ctx.name,
      db: route.db,
      collection: route.collection,
      resumeToken: change.resumeToken,
      txId: change.txId === null ? null : { string: change.txId },
      tsMs: change.tsMs,
      snapshot: change.snapshot,
    },
    op: 't',
    tsMs: ctx.now,
    changeId: change.changeId,
    updateDescription: null,
  });
  const partitions = await partitionsOf(prepared.topic);
  return Array.from({ length: partitions }, (_, partition) => ({
    topic: prepared.topic,
    key: null,
    value,
    partition,
  }));
}

/** The change input of a streamed document event (insert, update, replace, delete). */
export function eventInput(event: ChangeStreamDocument, now: number): ChangeInput {
  const e = event as ChangeStreamDocument & {
    documentKey?: Record<string, unknown>;
    fullDocument?: Record<string, unknown> | null;
    fullDocumentBeforeChange?: Record<string, unknown> | null;
    updateDescription?: {
      updatedFields?: Record<string, unknown>;
      removedFields?: string[];
      truncatedArrays?: { field: string; newSize: number }[];
    };
    wallTime?: Date;
    clusterTime?: { getHighBits?: () => number; high?: number };
    lsid?: { id?: { toString(format?: string): string } };
    txnNumber?: unknown;
  };
  const resumeToken = (event._id as { _data: string })._data;
  const wall = e.wallTime instanceof Date ? e.wallTime.getTime() : undefined;
  const seconds = e.clusterTime?.high;
  const tsMs = wall ?? (typeof seconds === 'number' ? (seconds >>> 0) * 1000 : now);
  const txId =
    e.lsid && e.txnNumber !== undefined
      ? `${e.lsid.id?.toString('hex') ?? 'session'}:${String(e.txnNumber)}`
      : null;
  const before = e.fullDocumentBeforeChange ?? null;
  const documentKey = e.documentKey ?? null;
  const base = {
    changeId: mongoChangeId({ resumeToken }),
    resumeToken,
    tsMs,
    txId,
    snapshot: 'false' as const,
    before,
    updateDescription: null,
  };
  switch (event.operationType) {
    case 'insert':
      return {
        ...base,
        op: 'c',
        keyDocument: documentKey && '_id' in documentKey ? documentKey : (e.fullDocument ?? null),
        after: e.fullDocument ?? null,
      };
    case 'delete':
      return { ...base, op: 'd', keyDocument: documentKey, after: null };
    case 'update':
    case 'replace': {
      const after = e.fullDocument ?? null;
      const afterHasId = after !== null && after._id !== undefined;
      const keyFromEvent = documentKey !== null && '_id' in documentKey && !hasOperators(documentKey);
      const keyDocument = keyFromEvent ? documentKey : afterHasId ? after : null;
      const ud = e.updateDescription;
      const updateDescription: UpdateDescriptionValue | null = ud
        ? {
            removedFields: ud.removedFields ?? [],
            updatedFields: EJSON.stringify(ud.updatedFields ?? {}, { relaxed: false }),
            truncatedArrays: (ud.truncatedArrays ?? []).map((t) => ({
              field: t.field,
              newSize: Number(t.newSize),
            })),
          }
        : null;
      let problem: CdcError | undefined;
      if (!keyDocument) {
        problem = new CdcError(
          'SOURCE_UNSUPPORTED',
          `an ${event.operationType} event carries no _id: its documentKey is ${EJSON.stringify(documentKey ?? null)} (mongo-java-server puts the update's operators there) and the looked-up document has none (it was deleted before the lookup); the later change of this document follows in the stream`,
          { context: { operationType: event.operationType } },
        );
      } else if (!afterHasId) {
        problem = new CdcError(
          'POISON_RECORD',
          `the ${event.operationType} of _id ${EJSON.stringify(keyDocument._id, { relaxed: false })} has no after image: the document was gone when the server looked it up (deleted or replaced since; the later change follows in the stream). Use fullDocument: required with changeStreamPreAndPostImages for exact post-images`,
          { context: { operationType: event.operationType } },
        );
      }
      return {
        ...base,
        op: 'u',
        keyDocument,
        after: afterHasId ? after : null,
        updateDescription,
        ...(problem ? { problem } : {}),
      };
    }
    default:
      throw new CdcError('INVARIANT_VIOLATED', `${event.operationType} is not a document change`, {
        context: { operationType: event.operationType },
      });
  }
}

function hasOperators(doc: Record<string, unknown>): boolean {
  return Object.keys(doc).some((k) => k.startsWith('$'));
}

/**
 * A (classified) document → its Avro value under the current inference state: the value that
 * {@link mongoAvroType} encodes. Longs are `bigint`s, bytes `Buffer`s, unions wrapped.
 */
import { CdcError } from '@cdc/core';
import { branchKey, NULL_FIELDS_FIELD } from './avro-schema.ts';
import { type ClassifiedTree, childPath } from './bson-value.ts';
import { toExtendedJson } from './extended-json.ts';
import type { BranchShape, FieldShape, RecordShape, TypeShape } from './shape.ts';
import { targetOf } from './shape.ts';

export type AvroRecordValue = { [field: string]: unknown };

export interface ConvertContext {
  namespace: string;
  maxFieldsPerRecord: number;
}

function notObserved(path: string, what: string): CdcError {
  return new CdcError(
    'INVARIANT_VIOLATED',
    `Field '${path || '(document)'}' ${what} in the inferred schema: observe the document before converting it.`,
    { context: { fieldPath: path } },
  );
}

const fieldIndexes = new WeakMap<RecordShape, Map<string, FieldShape>>();

function fieldIndex(record: RecordShape): Map<string, FieldShape> {
  let index = fieldIndexes.get(record);
  if (!index || index.size !== record.fields.length) {
    index = new Map(record.fields.map((f) => [f.name, f]));
    fieldIndexes.set(record, index);
  }
  return index;
}

export function recordValue(
  record: RecordShape,
  doc: Extract<ClassifiedTree, { kind: 'document' }>,
  path: string,
  ctx: ConvertContext,
  depth = 0,
): AvroRecordValue {
  const out: AvroRecordValue = {};
  for (const field of record.fields) out[field.avroName] = null;
  const index = fieldIndex(record);
  const nulls: string[] = [];
  for (const [name, value] of doc.fields) {
    const field = index.get(name);
    const p = childPath(path, name);
    if (!field) throw notObserved(p, 'has no field');
    if (value.kind === 'null') {
      if (!record.nullFields) throw notObserved(p, 'is null but no null was recorded');
      nulls.push(field.avroName);
    } else {
      out[field.avroName] = typeValue(field.type, value, p, true, ctx, depth + 1);
    }
  }
  if (record.nullFields) out[NULL_FIELDS_FIELD] = nulls.length > 0 ? { array: nulls } : null;
  return out;
}

/** Whether a place is written as an Avro union (fields always hold `null` too). */
export function isUnion(shape: TypeShape, isField: boolean): boolean {
  if (isField) return shape.branches.length > 0;
  return (shape.nullable ? 1 : 0) + shape.branches.length > 1;
}

function typeValue(
  shape: TypeShape,
  value: ClassifiedTree,
  path: string,
  isField: boolean,
  ctx: ConvertContext,
  depth: number,
): unknown {
  const target = targetOf(shape, value, ctx.maxFieldsPerRecord, depth);
  if (target === 'null') {
    if (!isField && !shape.nullable) throw notObserved(path, 'is null but no null was recorded');
    return null;
  }
  const branch = shape.branches.find((b) => b.type === target);
  if (!branch) throw notObserved(path, `has no ${target} branch`);
  const v = branchValue(branch, value, path, ctx, depth);
  return isUnion(shape, isField) ? { [branchKey(branch, ctx.namespace)]: v } : v;
}

function branchValue(
  branch: BranchShape,
  value: ClassifiedTree,
  path: string,
  ctx: ConvertContext,
  depth: number,
): unknown {
  switch (branch.type) {
    case 'extendedJson':
      return { json: toExtendedJson(value) };
    case 'record':
      if (value.kind !== 'document') break;
      return recordValue(branch.record, value, path, ctx, depth);
    case 'array':
      if (value.kind !== 'array') break;
      return value.items.map((item, i) =>
        typeValue(branch.items, item, childPath(path, i), false, ctx, depth + 1),
      );
    case 'long':
      if (value.kind === 'long' || value.kind === 'date') return value.value;
      if (value.kind === 'timestamp') return BigInt.asIntN(64, (BigInt(value.t) << 32n) | BigInt(value.i));
      if (value.kind === 'int') return BigInt(value.value);
      break;
    case 'bytes':
      if (value.kind !== 'binary') break;
      return Buffer.from(value.value);
    case 'boolean':
    case 'int':
    case 'double':
    case 'string':
      if (
        'value' in value &&
        (typeof value.value === 'number' ||
          typeof value.value === 'string' ||
          typeof value.value === 'boolean')
      )
        return value.value;
      break;
  }
  throw new CdcError(
    'INVARIANT_VIOLATED',
    `Field '${path}': a ${value.kind} was routed to the ${branch.type} branch.`,
    {
      context: { fieldPath: path },
    },
  );
}

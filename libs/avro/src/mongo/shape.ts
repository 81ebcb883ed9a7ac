/**
 * The inference state: what has been seen at each place in a collection's documents, as plain
 * JSON (the capture persists it), and the rules that widen it.
 *
 * Each place (a field, or the items of an array) holds a union of *branches*, at most one per
 * Avro type, each remembering which BSON type it carries:
 *
 * | branch        | carries                                            |
 * | ------------- | -------------------------------------------------- |
 * | boolean       | Boolean                                            |
 * | int           | Int32                                              |
 * | long          | Int64, *or* Date (millis), *or* Timestamp — one    |
 * | double        | Double (and Int32 once a double was seen)          |
 * | string        | String, *or* ObjectId, Decimal128, UUID — one kind |
 * | bytes         | Binary of one subtype                              |
 * | record        | sub-documents, all shapes merged into one record   |
 * | array         | arrays, their items widened as one place           |
 * | extendedJson  | anything else, as canonical Extended JSON          |
 *
 * Widening: Int32 then Int64 → the int branch becomes long; Int32 then Double → it becomes
 * double; Int64 and Double → both branches, because Avro's long → double promotion rounds
 * integers beyond 2^53 (never chosen). A value whose Avro branch is taken by another BSON type
 * (an ObjectId where strings were seen, a Date where Int64s were, Binary where strings were or
 * the reverse: Avro promotes string ↔ bytes, so a reader that takes the first union branch that
 * can read a value would turn one into the other; likewise a Double where Dates or Timestamps
 * were, or the reverse: Avro reads a long as a double, and an Int32 written before the int
 * branch became double would be read by the first matching branch of `[long(date), double]`,
 * the date), a sub-document or array where
 * scalars were seen or the reverse, a sub-document that would take its record past
 * `maxFieldsPerRecord`, and MinKey/MaxKey/RegExp/Code/Symbol/DBRef/DBPointer go to the
 * extendedJson branch. Branches are only ever added (or int replaced by long/double, which Avro
 * promotes), fields only added, so each schema version reads the data of every earlier one.
 */
import type { ClassifiedTree } from './bson-value.ts';
import { allocateName } from './field-names.ts';

export type StringKind = 'string' | 'objectId' | 'decimal128' | 'uuid';
export type LongKind = 'long' | 'date' | 'timestamp';

export type BranchShape =
  | { type: 'boolean' }
  | { type: 'int' }
  | { type: 'long'; kind: LongKind }
  | { type: 'double' }
  | { type: 'string'; kind: StringKind }
  | { type: 'bytes'; subtype: number }
  | { type: 'extendedJson' }
  | { type: 'record'; record: RecordShape }
  | { type: 'array'; items: TypeShape };

export type BranchType = BranchShape['type'];

/** A place in the documents: `nullable` when `null` was seen there (fields are always nullable). */
export interface TypeShape {
  nullable: boolean;
  branches: BranchShape[];
}

export interface FieldShape {
  /** The MongoDB field name. */
  name: string;
  avroName: string;
  type: TypeShape;
}

export interface RecordShape {
  /** The Avro record name, unique in the schema. */
  name: string;
  fields: FieldShape[];
  /** Whether an explicit `null` was seen in one of its fields: the record then lists them in `__cdc_nulls`. */
  nullFields: boolean;
}

/** Where a value goes in a place: `null`, or the Avro type of the branch that carries it. */
export type Target = 'null' | BranchType;

/**
 * The deepest level at which sub-documents and arrays keep a typed shape: one found at this
 * level (a path of this many names and indexes) is kept as canonical Extended JSON instead.
 */
export const MAX_NESTING = 16;

const STRUCTURAL: ReadonlySet<BranchType> = new Set(['record', 'array']);

function branchOf<T extends BranchType>(
  shape: TypeShape,
  type: T,
): Extract<BranchShape, { type: T }> | undefined {
  return shape.branches.find((b) => b.type === type) as Extract<BranchShape, { type: T }> | undefined;
}

function hasScalar(shape: TypeShape): boolean {
  return shape.branches.some((b) => !STRUCTURAL.has(b.type) && b.type !== 'extendedJson');
}

function hasStructural(shape: TypeShape): boolean {
  return shape.branches.some((b) => STRUCTURAL.has(b.type));
}

/** How many fields a record would have after taking this sub-document. */
function fieldCountWith(
  record: RecordShape | undefined,
  doc: Extract<ClassifiedTree, { kind: 'document' }>,
): number {
  if (!record) return doc.fields.length;
  const known = new Set(record.fields.map((f) => f.name));
  return record.fields.length + doc.fields.filter(([name]) => !known.has(name)).length;
}

/**
 * The branch a value goes to in `shape` as it is now (the branch may not exist yet). Monotone:
 * once a value has been observed, later observations never move it to a branch that is gone.
 */
export function targetOf(
  shape: TypeShape,
  value: ClassifiedTree,
  maxFieldsPerRecord: number,
  depth = 1,
): Target {
  if ((value.kind === 'document' || value.kind === 'array') && depth >= MAX_NESTING) return 'extendedJson';
  switch (value.kind) {
    case 'null':
      return 'null';
    case 'extendedJson':
      return 'extendedJson';
    case 'document': {
      if (hasScalar(shape) || branchOf(shape, 'array')) return 'extendedJson';
      return fieldCountWith(branchOf(shape, 'record')?.record, value) > maxFieldsPerRecord
        ? 'extendedJson'
        : 'record';
    }
    case 'array':
      return hasScalar(shape) || branchOf(shape, 'record') ? 'extendedJson' : 'array';
    default:
      break;
  }
  if (hasStructural(shape)) return 'extendedJson';
  switch (value.kind) {
    case 'boolean':
      return 'boolean';
    case 'int':
      if (branchOf(shape, 'long')?.kind === 'long') return 'long';
      return branchOf(shape, 'double') ? 'double' : 'int';
    case 'long':
    case 'date':
    case 'timestamp': {
      const long = branchOf(shape, 'long');
      if (value.kind !== 'long' && branchOf(shape, 'double')) return 'extendedJson';
      return !long || long.kind === value.kind ? 'long' : 'extendedJson';
    }
    case 'double':
      return branchOf(shape, 'long')?.kind === 'date' || branchOf(shape, 'long')?.kind === 'timestamp'
        ? 'extendedJson'
        : 'double';
    case 'string':
    case 'objectId':
    case 'decimal128':
    case 'uuid': {
      const string = branchOf(shape, 'string');
      if (branchOf(shape, 'bytes')) return 'extendedJson';
      return !string || string.kind === value.kind ? 'string' : 'extendedJson';
    }
    case 'binary': {
      const bytes = branchOf(shape, 'bytes');
      if (branchOf(shape, 'string')) return 'extendedJson';
      return !bytes || bytes.subtype === value.subtype ? 'bytes' : 'extendedJson';
    }
  }
}

/** Keeps record names unique across the whole schema. */
export class RecordNames {
  readonly #taken: Set<string>;

  constructor(taken: Iterable<string>) {
    this.#taken = new Set(taken);
  }

  allocate(wanted: string): string {
    let name = wanted;
    for (let n = 2; this.#taken.has(name); n++) name = `${wanted}_${n}`;
    this.#taken.add(name);
    return name;
  }
}

export function recordNamesIn(record: RecordShape, into: string[] = []): string[] {
  into.push(record.name);
  for (const field of record.fields) typeRecordNames(field.type, into);
  return into;
}

function typeRecordNames(shape: TypeShape, into: string[]): void {
  for (const b of shape.branches) {
    if (b.type === 'record') recordNamesIn(b.record, into);
    else if (b.type === 'array') typeRecordNames(b.items, into);
  }
}

export interface ObserveContext {
  maxFieldsPerRecord: number;
  names: RecordNames;
  /** Set when the state (and so the Avro schema) changed. */
  changed: boolean;
}

/** Widens `record` with one (classified) document. Never fails: the tree was validated when classified. */
export function observeRecord(
  record: RecordShape,
  doc: Extract<ClassifiedTree, { kind: 'document' }>,
  ctx: ObserveContext,
  depth = 0,
): void {
  for (const [name, value] of doc.fields) {
    let field = record.fields.find((f) => f.name === name);
    if (!field) {
      const avroName = allocateName(name, new Set(record.fields.map((f) => f.avroName)));
      field = { name, avroName, type: { nullable: true, branches: [] } };
      record.fields.push(field);
      ctx.changed = true;
    }
    if (value.kind === 'null' && !record.nullFields) {
      record.nullFields = true;
      ctx.changed = true;
    }
    observeType(field.type, value, `${record.name}_${field.avroName}`, ctx, depth + 1);
  }
}

function observeType(
  shape: TypeShape,
  value: ClassifiedTree,
  scope: string,
  ctx: ObserveContext,
  depth: number,
): void {
  const target = targetOf(shape, value, ctx.maxFieldsPerRecord, depth);
  if (target === 'null') {
    if (!shape.nullable) {
      shape.nullable = true;
      ctx.changed = true;
    }
    return;
  }
  let branch = shape.branches.find((b) => b.type === target);
  if (!branch) {
    branch = newBranch(target, value, scope, ctx);
    const int = shape.branches.findIndex((b) => b.type === 'int');
    // Int32s seen so far are promoted: the int branch becomes the long or double one.
    if (int >= 0 && ((target === 'long' && value.kind === 'long') || target === 'double'))
      shape.branches[int] = branch;
    else shape.branches.push(branch);
    ctx.changed = true;
  }
  if (branch.type === 'record' && value.kind === 'document') observeRecord(branch.record, value, ctx, depth);
  else if (branch.type === 'array' && value.kind === 'array') {
    // Items never seen are written as `"null"`; a later item type must then come as `["null", T]`.
    if (value.items.length === 0 && branch.items.branches.length === 0 && !branch.items.nullable) {
      branch.items.nullable = true;
      ctx.changed = true;
    }
    for (const item of value.items) observeType(branch.items, item, `${scope}_item`, ctx, depth + 1);
  }
}

function newBranch(
  target: BranchType,
  value: ClassifiedTree,
  scope: string,
  ctx: ObserveContext,
): BranchShape {
  switch (target) {
    case 'long':
      return {
        type: 'long',
        kind: value.kind === 'date' || value.kind === 'timestamp' ? value.kind : 'long',
      };
    case 'string':
      return { type: 'string', kind: value.kind as StringKind };
    case 'bytes':
      return { type: 'bytes', subtype: value.kind === 'binary' ? value.subtype : 0 };
    case 'record':
      return { type: 'record', record: { name: ctx.names.allocate(scope), fields: [], nullFields: false } };
    case 'array':
      return { type: 'array', items: { nullable: false, branches: [] } };
    default:
      return { type: target };
  }
}

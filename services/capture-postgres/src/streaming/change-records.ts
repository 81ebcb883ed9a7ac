/**
 * Changes → Kafka records: the Debezium-compatible envelope Avro-encoded for the table's
 * topic, the primary key as the record key. What each replica identity gives:
 *
 * | identity            | update `before`  | delete `before` | key of a delete            |
 * |---------------------|------------------|-----------------|----------------------------|
 * | DEFAULT (pk)        | null             | null            | from the old key columns   |
 * | USING INDEX         | null             | null            | from the index columns     |
 * | FULL                | the whole old row| the whole row   | from the old row           |
 *
 * (`before` is all or nothing: a row with only its key columns filled would put NULL in
 * NOT NULL columns, which a consumer could take for data.)
 *
 * Unchanged TOASTed values (an update that did not touch a large value; WAL does not carry
 * it) never reach a topic as a placeholder: with FULL they come from the old row; otherwise
 * the capture reads the column back from the table by primary key (`ToastFetcher`), which
 * gives the current value (the same unless a later change, which then follows in the stream,
 * changed it); when the row is gone by then, the change goes to the dead-letter topic with
 * the reason instead of carrying an invented value.
 */
import { type PgRowSchema, type PgTextValue, pgColumnValueFromText } from '@cdc/avro';
import type { CompiledTransform, OutRecord, PreparedTopic } from '@cdc/capture';
import { CdcError, formatLsn, lsnHex, type Op, postgresChangeIdAt } from '@cdc/core';
import { type TupleValue, UNCHANGED_TOAST } from '../pgoutput/decoder.ts';
import type { CapturedTable } from '../relations.ts';

export interface TableRoute {
  captured: CapturedTable;
  prepared: PreparedTopic;
  /** The table's transforms from the pipeline file (the identity when it has none). */
  transform: CompiledTransform;
}

export interface ChangeContext {
  /** The capture's name (`source.name`) and database (`source.db`). */
  name: string;
  db: string;
  finalLsn: bigint;
  /** LSN of the change's own WAL record (XLogData start). */
  lsn: bigint;
  index: number;
  xid: number;
  commitTimeUsec: bigint;
  /** A record larger than this is refused (`recordTooLarge`), to be dead-lettered. */
  maxRecordBytes?: number;
}

/** Reads unchanged TOASTed columns back from the table by key; null when the row is gone. */
export type ToastFetcher = (
  table: CapturedTable,
  key: Record<string, unknown>,
  keyText: Map<string, string>,
  columns: string[],
) => Promise<Map<string, string | null> | null>;

export function sourceInfo(route: TableRoute, ctx: ChangeContext, snapshot = 'false') {
  return {
    connector: 'postgresql',
    name: ctx.name,
    db: ctx.db,
    schema: route.captured.schema,
    table: route.captured.table,
    lsn: formatLsn(ctx.lsn),
    commitLsn: commitLsnText(ctx.finalLsn),
    txId: String(ctx.xid),
    tsMs: Number(ctx.commitTimeUsec / 1000n),
    snapshot,
  };
}

/** The last transaction's commit LSN as text and hex: every change of a transaction shares it. */
let memo = { lsn: -1n, text: '', hex: '' };

function memoLsn(finalLsn: bigint) {
  if (memo.lsn !== finalLsn) memo = { lsn: finalLsn, text: formatLsn(finalLsn), hex: lsnHex(finalLsn) };
  return memo;
}

export function commitLsnText(finalLsn: bigint): string {
  return memoLsn(finalLsn).text;
}

/** `postgresChangeId` without parsing the LSN text again (the same string). */
export function streamChangeId(finalLsn: bigint, index: number): string {
  return postgresChangeIdAt(memoLsn(finalLsn).hex, index);
}

export function textOf(v: TupleValue): PgTextValue {
  return v === UNCHANGED_TOAST ? null : v;
}

/** Encodes one change. `before`/`after` are Avro row values (already converted). */
export function encodeChange(
  route: TableRoute,
  op: Op,
  key: Record<string, unknown> | null,
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
  ctx: ChangeContext,
  nowMs: number,
): OutRecord {
  const { prepared } = route;
  const changeId = streamChangeId(ctx.finalLsn, ctx.index);
  const value = prepared.valueWriter.encode(
    { before, after, source: sourceInfo(route, ctx), op, tsMs: nowMs, changeId },
    { topic: prepared.topic },
  );
  if (ctx.maxRecordBytes !== undefined && value.length > ctx.maxRecordBytes)
    throw recordTooLarge(route.captured, key, value.length, ctx.maxRecordBytes);
  if (prepared.keyWriter && key) {
    return { topic: prepared.topic, key: prepared.keyWriter.encode(key, { topic: prepared.topic }), value };
  }
  return { topic: prepared.topic, key: null, value, partition: 0 };
}

/**
 * A change whose Avro record is over `maxRecordBytes`: `POISON_RECORD`, dead-lettered (the
 * table's later changes and the other tables go on), naming the table, the key, the size and
 * the limit.
 */
export function recordTooLarge(
  table: CapturedTable,
  key: Record<string, unknown> | null,
  bytes: number,
  limit: number,
): CdcError {
  const name = `${table.schema}.${table.table}`;
  const keyText = key === null ? '(none: the table has no key)' : JSON.stringify(key, keyJson);
  return new CdcError(
    'POISON_RECORD',
    `${name}: the change of key ${keyText} is ${bytes} bytes as Avro, more than maxRecordBytes (${limit}); it is dead-lettered and the table goes on. To capture such rows raise maxRecordBytes of this source (at most 100663296) and replay the dead letter, or store the value elsewhere`,
    { context: { table: name, key: keyText, bytes, maxRecordBytes: limit } },
  );
}

function keyJson(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return v;
}

/**
 * The raw values of a dead-lettered change as text (base64), the large ones replaced by
 * `(omitted: N bytes)` when together they would not leave room in the dead-letter topic
 * (whose records have the same `maxRecordBytes` limit).
 */
export function deadLetterValues(
  tuple: readonly TupleValue[] | null,
  maxRecordBytes: number,
): (string | null)[] | null {
  if (tuple === null) return null;
  const total = tuple.reduce((n, v) => n + (v instanceof Uint8Array ? v.length : 0), 0);
  const omit = total * 4 > maxRecordBytes;
  return tuple.map((v) => {
    if (v === null) return null;
    if (typeof v === 'symbol') return '(unchanged TOAST value)';
    if (omit && v.length > 1024) return `(omitted: ${v.length} bytes)`;
    return Buffer.from(v).toString('base64');
  });
}

/** The key of a row from a tuple that has (at least) the key columns. */
export function keyFromTuple(rs: PgRowSchema, tuple: readonly TupleValue[]): Record<string, unknown> {
  const key: Record<string, unknown> = {};
  rs.columns.forEach((c, i) => {
    if (!c.column.isKey) return;
    const v = tuple[i];
    if (v === undefined || v === null || v === UNCHANGED_TOAST) {
      throw new CdcError(
        'SOURCE_UNSUPPORTED',
        `${rs.relation.schema}.${rs.relation.name}: key column ${c.column.name} is missing from the change; the replica identity must include the primary key (ALTER TABLE … REPLICA IDENTITY DEFAULT or FULL)`,
        { context: { table: `${rs.relation.schema}.${rs.relation.name}`, column: c.column.name } },
      );
    }
    key[c.field] = pgColumnValueFromText(rs, c, v);
  });
  return key;
}

/**
 * The text values of an update's new row with unchanged TOASTed values filled in: from the
 * old row (FULL), else read back by key. Null when the row no longer exists.
 */
export async function resolveToast(
  table: CapturedTable,
  newTuple: readonly TupleValue[],
  oldTuple: readonly TupleValue[] | null,
  fetch: ToastFetcher,
): Promise<PgTextValue[] | null> {
  const out: PgTextValue[] = [];
  const missing: number[] = [];
  newTuple.forEach((v, i) => {
    if (v !== UNCHANGED_TOAST) {
      out.push(v);
      return;
    }
    const old = oldTuple?.[i];
    if (old !== undefined && old !== UNCHANGED_TOAST) out.push(old);
    else {
      out.push(null);
      missing.push(i);
    }
  });
  if (missing.length === 0) return out;
  const rs = table.rowSchema;
  const key = keyFromTuple(rs, newTuple);
  const keyText = new Map<string, string>();
  rs.columns.forEach((c, i) => {
    const v = newTuple[i];
    if (c.column.isKey && v instanceof Uint8Array)
      keyText.set(c.column.name, Buffer.from(v).toString('utf8'));
  });
  if (!table.hasKey) return null;
  const names = missing.map((i) => rs.columns[i]!.column.name);
  const fetched = await fetch(table, key, keyText, names);
  if (!fetched) return null;
  missing.forEach((i, n) => {
    out[i] = fetched.get(names[n]!) ?? null;
  });
  return out;
}

/**
 * The Confluent wire format: magic byte 0, the schema id as a 4-byte big-endian integer, then
 * the Avro binary encoding of the value with that schema.
 *
 *   [0x00][id: int32 BE][avro body...]
 */
import { CdcError } from '@cdc/core';

export const MAGIC_BYTE = 0;
export const HEADER_SIZE = 5;

/** Where a record came from, for error messages (all optional). */
export interface RecordContext {
  topic?: string;
  partition?: number;
  offset?: string | number;
  /** `key` or `value`. */
  part?: 'key' | 'value';
}

export interface WireFrame {
  schemaId: number;
  /** The Avro body (a view into the input, not a copy). */
  payload: Buffer;
}

/** Prefixes an Avro body with the magic byte and the schema id. */
export function frame(schemaId: number, payload: Uint8Array): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0x7fffffff) {
    throw new CdcError(
      'SERDE_FAILED',
      `schema id ${schemaId} cannot be framed: it must be an integer in [0, 2^31)`,
      {
        context: { schemaId },
      },
    );
  }
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  out[0] = MAGIC_BYTE;
  out.writeInt32BE(schemaId, 1);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** The parts of a record context as error-context fields. */
export function flatContext(context: RecordContext | undefined): Record<string, string | number | undefined> {
  if (!context) return {};
  return {
    topic: context.topic,
    partition: context.partition,
    offset: context.offset === undefined ? undefined : String(context.offset),
    part: context.part,
  };
}

/** `topic my.topic partition 3 offset 42 (value)`: the parts that are known. */
export function describeRecord(context: RecordContext = {}): string {
  const parts: string[] = [];
  if (context.topic !== undefined) parts.push(`topic ${context.topic}`);
  if (context.partition !== undefined) parts.push(`partition ${context.partition}`);
  if (context.offset !== undefined) parts.push(`offset ${context.offset}`);
  const where = parts.join(' ');
  if (context.part === undefined) return where || 'the record';
  return where ? `${where} (${context.part})` : `the record's ${context.part}`;
}

/** What the first bytes look like, to tell a user what was there instead. */
function describeBytes(buffer: Uint8Array): string {
  const head = Buffer.from(buffer.subarray(0, 8))
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
  const shown = `${buffer.length} byte${buffer.length === 1 ? '' : 's'} starting ${head}${buffer.length > 8 ? ' …' : ''}`;
  const first = buffer[0];
  if (first === 0x7b || first === 0x5b) return `${shown}, which looks like JSON text`;
  const text = Buffer.from(buffer.subarray(0, 64)).toString('utf8');
  if (/^[\x20-\x7e\t\r\n]+$/.test(text)) return `${shown}, which looks like plain text`;
  return shown;
}

function notWireFormat(found: string, context: RecordContext): CdcError {
  return new CdcError(
    'SERDE_FAILED',
    `${describeRecord(context)} is not in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body): found ${found}. It was written by a producer that does not use the schema registry serializer; route it to the dead-letter topic or fix the producer.`,
    { context: { ...context, offset: context.offset === undefined ? undefined : String(context.offset) } },
  );
}

/** Splits a wire-format buffer into schema id and Avro body; a clear error for anything else. */
export function unframe(buffer: Uint8Array | null | undefined, context: RecordContext = {}): WireFrame {
  if (buffer === null || buffer === undefined) return throwFound('no bytes (null: a tombstone?)', context);
  if (buffer.length === 0) return throwFound('an empty buffer', context);
  if (buffer[0] !== MAGIC_BYTE)
    return throwFound(`magic byte ${buffer[0]} (${describeBytes(buffer)})`, context);
  if (buffer.length < HEADER_SIZE) {
    return throwFound(`only ${describeBytes(buffer)}, shorter than the 5-byte header`, context);
  }
  const bytes = Buffer.isBuffer(buffer)
    ? buffer
    : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.length);
  const schemaId = bytes.readInt32BE(1);
  if (schemaId < 0) return throwFound(`a negative schema id ${schemaId}`, context);
  return { schemaId, payload: bytes.subarray(HEADER_SIZE) };
}

function throwFound(found: string, context: RecordContext): never {
  throw notWireFormat(found, context);
}

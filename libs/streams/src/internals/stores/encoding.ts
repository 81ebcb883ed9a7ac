/** Byte layouts that sort like the values they hold. */

const TWO_32 = 2 ** 32;
const TWO_31 = 2 ** 31;

/**
 * A millisecond timestamp as 8 bytes that sort in numeric order (negative times included): the
 * 64-bit two's complement with its sign bit flipped, written as two 32-bit halves (exact for
 * every safe integer, without BigInt).
 */
export function encodeTime(ms: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  writeTime(b, ms, 0);
  return b;
}

export function writeTime(b: Buffer, ms: number, offset: number): void {
  const hi = Math.floor(ms / TWO_32);
  b.writeUInt32BE(hi + TWO_31, offset);
  b.writeUInt32BE(ms - hi * TWO_32, offset + 4);
}

export function decodeTime(b: Buffer, offset: number): number {
  return (b.readUInt32BE(offset) - TWO_31) * TWO_32 + b.readUInt32BE(offset + 4);
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

export const PRIMARY = 0x00;
export const BY_END = 0x01;

/** `[0x00][len][key][start][end]`: all windows of a key are adjacent, ordered by start. */
export function primaryKey(key: Buffer, start: number, end: number): Buffer {
  const b = Buffer.allocUnsafe(21 + key.length);
  b[0] = PRIMARY;
  b.writeUInt32BE(key.length, 1);
  key.copy(b, 5);
  writeTime(b, start, 5 + key.length);
  writeTime(b, end, 13 + key.length);
  return b;
}

export function primaryPrefix(key: Buffer): Buffer {
  return Buffer.concat([Buffer.of(PRIMARY), u32(key.length), key]);
}

export function decodePrimary(b: Buffer): { key: Buffer; start: number; end: number } {
  const len = b.readUInt32BE(1);
  const key = b.subarray(5, 5 + len);
  return { key, start: decodeTime(b, 5 + len), end: decodeTime(b, 13 + len) };
}

/** `[0x01][end][len][key][start]`: every window ordered by its end, for closing and expiry. */
export function byEndKey(key: Buffer, start: number, end: number): Buffer {
  const b = Buffer.allocUnsafe(21 + key.length);
  b[0] = BY_END;
  writeTime(b, end, 1);
  b.writeUInt32BE(key.length, 9);
  key.copy(b, 13);
  writeTime(b, start, 13 + key.length);
  return b;
}

export function byEndBound(end: number): Buffer {
  return Buffer.concat([Buffer.of(BY_END), encodeTime(end)]);
}

export function decodeByEnd(b: Buffer): { key: Buffer; start: number; end: number } {
  const end = decodeTime(b, 1);
  const len = b.readUInt32BE(9);
  const key = b.subarray(13, 13 + len);
  return { key, start: decodeTime(b, 13 + len), end };
}

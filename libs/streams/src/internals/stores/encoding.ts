/** Byte layouts that sort like the values they hold. */

const SIGN = 2n ** 63n;

/** A millisecond timestamp as 8 bytes that sort in numeric order (negative times included). */
export function encodeTime(ms: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(ms) + SIGN);
  return b;
}

export function decodeTime(b: Buffer, offset: number): number {
  return Number(b.readBigUInt64BE(offset) - SIGN);
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
  return Buffer.concat([Buffer.of(PRIMARY), u32(key.length), key, encodeTime(start), encodeTime(end)]);
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
  return Buffer.concat([Buffer.of(BY_END), encodeTime(end), u32(key.length), key, encodeTime(start)]);
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

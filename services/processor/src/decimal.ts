import { CdcError } from '@cdc/core';

/**
 * Exact decimals for sums and comparisons: an unscaled bigint and a scale (`12.50` is
 * `{ unscaled: 1250n, scale: 2 }`). Money never goes through floating point; a JS number is read
 * through its shortest decimal text (`0.1` is exactly one tenth).
 */
export interface Decimal {
  readonly unscaled: bigint;
  readonly scale: number;
}

export const ZERO: Decimal = { unscaled: 0n, scale: 0 };

const TEXT = /^([+-]?)(\d+)(?:\.(\d+))?$/;

/** A number, bigint or decimal text → a `Decimal`; anything else is not numeric. */
export function toDecimal(value: unknown): Decimal {
  if (typeof value === 'bigint') return { unscaled: value, scale: 0 };
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw notNumeric(value);
    text = Number.isInteger(value) ? BigInt(value).toString() : expandExponent(String(value));
  } else if (typeof value === 'string') text = value.trim();
  else throw notNumeric(value);
  const m = TEXT.exec(text);
  if (!m) throw notNumeric(value);
  const frac = m[3] ?? '';
  const unscaled = BigInt(`${m[2]}${frac}`);
  return { unscaled: m[1] === '-' ? -unscaled : unscaled, scale: frac.length };
}

function expandExponent(text: string): string {
  if (!/e/i.test(text)) return text;
  const [mant = '', expText = '0'] = text.toLowerCase().split('e');
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const [int = '', frac = ''] = mant.replace('-', '').split('.');
  const digits = int + frac;
  const point = int.length + exp;
  const body =
    point <= 0
      ? `0.${'0'.repeat(-point)}${digits}`
      : point >= digits.length
        ? digits + '0'.repeat(point - digits.length)
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (neg ? '-' : '') + body;
}

function notNumeric(value: unknown): CdcError {
  return new CdcError('POISON_RECORD', `${JSON.stringify(String(value))} is not a number`, {
    context: { value: String(value) },
  });
}

export function rescale(d: Decimal, scale: number): Decimal {
  if (scale === d.scale) return d;
  if (scale > d.scale) return { unscaled: d.unscaled * 10n ** BigInt(scale - d.scale), scale };
  // Round half to even when a scale is reduced (only on output).
  const div = 10n ** BigInt(d.scale - scale);
  let q = d.unscaled / div;
  const r = d.unscaled % div;
  const twice = (r < 0n ? -r : r) * 2n;
  if (twice > div || (twice === div && q % 2n !== 0n)) q += d.unscaled < 0n ? -1n : 1n;
  return { unscaled: q, scale };
}

export function add(a: Decimal, b: Decimal): Decimal {
  const s = Math.max(a.scale, b.scale);
  return { unscaled: rescale(a, s).unscaled + rescale(b, s).unscaled, scale: s };
}

export function negate(a: Decimal): Decimal {
  return { unscaled: -a.unscaled, scale: a.scale };
}

export function compare(a: Decimal, b: Decimal): number {
  const s = Math.max(a.scale, b.scale);
  const x = rescale(a, s).unscaled;
  const y = rescale(b, s).unscaled;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Canonical text: no trailing fractional zeros (`12.50` → `12.5`), so equal values have one text. */
export function toText(d: Decimal): string {
  let { unscaled, scale } = d;
  while (scale > 0 && unscaled % 10n === 0n) {
    unscaled /= 10n;
    scale--;
  }
  const neg = unscaled < 0n;
  const digits = (neg ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const body = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return neg ? `-${body}` : body;
}

export function toNumber(d: Decimal): number {
  return Number(toText(d));
}

/** Avro `decimal` bytes: the big-endian two's-complement unscaled value. */
export function toAvroBytes(d: Decimal, scale: number): Buffer {
  let v = rescale(d, scale).unscaled;
  const bytes: number[] = [];
  for (;;) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
    const sign = (bytes[0] as number) & 0x80;
    if ((v === 0n && !sign) || (v === -1n && sign)) break;
  }
  return Buffer.from(bytes);
}

export function fromAvroBytes(buf: Buffer, scale: number): Decimal {
  if (buf.length === 0) return { unscaled: 0n, scale };
  let v = 0n;
  for (const b of buf) v = (v << 8n) | BigInt(b);
  if (((buf[0] as number) & 0x80) !== 0) v -= 1n << BigInt(buf.length * 8);
  return { unscaled: v, scale };
}

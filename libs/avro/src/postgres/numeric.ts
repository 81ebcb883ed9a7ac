/**
 * PostgreSQL `numeric` to Avro.
 *
 * `numeric(p, s)` becomes `bytes` with the `decimal` logical type: the unscaled value as a
 * big-endian two's complement integer. PostgreSQL 15 allows a negative scale (`numeric(5,-2)`
 * holds multiples of 100) and a scale above the precision (`numeric(3,5)` holds 0.00xyz);
 * Avro needs `0 <= scale <= precision`, so those become `decimal(p - s, 0)` and `decimal(s, s)`,
 * which hold exactly the same values.
 *
 * `numeric` without a precision is a `string` holding the exact decimal text PostgreSQL prints
 * (`-12.3400`, `NaN`, `Infinity`), with `cdc.type: "numeric"`. Avro's `decimal` needs one scale
 * for every value of the field, and an unconstrained numeric carries its own scale per value
 * (0 to 16383 digits): any fixed scale would round or pad, and would not round-trip; a double
 * would lose digits. The text keeps the value and its scale exactly, and NaN/±Infinity too.
 *
 * `NaN` in a `numeric(p, s)` column has no decimal form: it is rejected with a POISON_RECORD
 * error (the record goes to the dead-letter topic) rather than turned into something else.
 */
import { badText } from './temporal.ts';

export interface DecimalShape {
  precision: number;
  scale: number;
}

/** The Avro decimal for a `numeric` typmod, or undefined for an unconstrained `numeric`. */
export function decimalShape(typmod: number): DecimalShape | undefined {
  if (typmod < 4) return undefined;
  const precision = ((typmod - 4) >> 16) & 0xffff;
  const scale = ((((typmod - 4) & 0x7ff) ^ 1024) - 1024) as number;
  if (scale < 0) return { precision: precision - scale, scale: 0 };
  if (scale > precision) return { precision: scale, scale };
  return { precision, scale };
}

const DECIMAL_RE = /^([+-])?(\d+)(?:\.(\d*))?$/;
const NUMERIC_RE = /^(?:[+-]?\d+(?:\.\d+)?|NaN|[+-]?Infinity)$/;

/** The unscaled integer of `text` at `shape.scale`; throws rather than round or overflow. */
export function decimalFromText(text: string, shape: DecimalShape): bigint {
  const m = DECIMAL_RE.exec(text);
  if (!m) {
    const why = /^[+-]?(NaN|Infinity)$/.test(text)
      ? 'an Avro decimal has no NaN or Infinity; to replicate them, declare the column numeric without a precision (ALTER COLUMN … TYPE numeric), which is kept as exact text'
      : undefined;
    throw badText(`numeric(${shape.precision},${shape.scale})`, text, why);
  }
  const [, sign, int, frac = ''] = m;
  if (/[1-9]/.test(frac.slice(shape.scale)))
    throw badText('numeric', text, `more than ${shape.scale} decimals`);
  const unscaled = BigInt(`${int}${frac.slice(0, shape.scale).padEnd(shape.scale, '0')}`);
  if (unscaled !== 0n && unscaled.toString().length > shape.precision) {
    throw badText('numeric', text, `more than ${shape.precision} digits`);
  }
  return sign === '-' ? -unscaled : unscaled;
}

export function decimalToText(unscaled: bigint, scale: number): string {
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return unscaled < 0n ? `-${text}` : text;
}

/** 2^47: below it in magnitude, a value fits the 6 bytes `writeIntBE` writes. */
const SMALL = 1n << 47n;

/** Big-endian two's complement, as few bytes as hold the sign (Avro decimal's encoding). */
export function bigintToTwosComplement(n: bigint): Buffer {
  if (n >= -SMALL && n < SMALL) {
    // Most values fit 6 bytes: written from a number, no hex string per value.
    const v = Number(n);
    let bytes = 1;
    while (v < -(2 ** (8 * bytes - 1)) || v >= 2 ** (8 * bytes - 1)) bytes++;
    const buf = Buffer.allocUnsafe(bytes);
    buf.writeIntBE(v, 0, bytes);
    return buf;
  }
  let bytes = 1;
  while (n < -(1n << BigInt(8 * bytes - 1)) || n >= 1n << BigInt(8 * bytes - 1)) bytes++;
  const unsigned = n < 0n ? (1n << BigInt(8 * bytes)) + n : n;
  return Buffer.from(unsigned.toString(16).padStart(2 * bytes, '0'), 'hex');
}

export function twosComplementToBigint(buf: Uint8Array): bigint {
  if (buf.length === 0) return 0n;
  const n = BigInt(`0x${Buffer.from(buf).toString('hex')}`);
  return (buf[0] as number) & 0x80 ? n - (1n << BigInt(8 * buf.length)) : n;
}

/** An unconstrained numeric's text, checked to be what PostgreSQL prints, kept as is. */
export function numericTextFromText(text: string): string {
  if (!NUMERIC_RE.test(text)) throw badText('numeric', text);
  return text;
}

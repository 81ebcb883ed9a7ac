import { isCdcError } from '@cdc/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSchema } from '../parse-schema.ts';
import type { PgColumn, PgType } from './relation.ts';
import { derivePgRowSchema, type PgRowSchema } from './row-schema.ts';
import { INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN } from './temporal.ts';
import { type PgTextValue, pgKeyFromRow, pgRowFromText, pgRowToText } from './values.ts';

const builtin = (name: string): PgType => ({ oid: 0, schema: 'pg_catalog', name, kind: 'base' });
const arrayOf = (element: PgType, delimiter = ','): PgType => ({
  oid: 0,
  schema: 'pg_catalog',
  name: `_${element.name}`,
  kind: 'array',
  element,
  delimiter,
});
const numericMod = (precision: number, scale: number): number => ((precision << 16) | (scale & 0x7ff)) + 4;

/** A table `public.t` with one nullable column `v`. */
function table(type: PgType, typmod = -1, extra: Partial<PgColumn> = {}): PgRowSchema {
  return derivePgRowSchema({
    schema: 'public',
    name: 't',
    columns: [{ name: 'v', type, typmod, notNull: false, isKey: false, ...extra }],
  });
}

/** text → Avro value → avsc binary → Avro value → text. */
function cycle(rs: PgRowSchema, text: PgTextValue) {
  const row = pgRowFromText(rs, [text]);
  const type = parseSchema(rs.row);
  const decoded = type.fromBuffer(type.toBuffer(row)) as Record<string, unknown>;
  const back = pgRowToText(rs, decoded)[0];
  return { value: row.v, decoded: decoded.v, back };
}

/** The text PostgreSQL prints survives the cycle unchanged. */
function textSurvives(rs: PgRowSchema, text: string): void {
  const { value, decoded, back } = cycle(rs, text);
  expect(decoded).toEqual(value);
  expect(back).toBe(text);
}

/** A value survives from its text; the text printed back reads as the same value. */
function valueSurvives(rs: PgRowSchema, text: string): unknown {
  const { value, decoded, back } = cycle(rs, text);
  expect(decoded).toEqual(value);
  expect(cycle(rs, back as string).value).toEqual(value);
  return value;
}

function rejects(rs: PgRowSchema, text: PgTextValue, pattern: RegExp): void {
  let caught: unknown;
  try {
    pgRowFromText(rs, [text]);
  } catch (err) {
    caught = err;
  }
  expect(isCdcError(caught, 'POISON_RECORD')).toBe(true);
  expect((caught as Error).message).toMatch(/public\.t\.v/);
  expect((caught as Error).message).toMatch(pattern);
}

const toText = (rs: PgRowSchema, value: unknown): string => pgRowToText(rs, { v: value })[0] as string;

describe('integers', () => {
  it('int2 and int4 keep every value, min and max included', () => {
    for (const [name, min, max] of [
      ['int2', -32768, 32767],
      ['int4', INT32_MIN, INT32_MAX],
    ] as const) {
      const rs = table(builtin(name));
      for (const n of [min, max, 0, -1]) textSurvives(rs, String(n));
      fc.assert(fc.property(fc.integer({ min, max }), (n) => textSurvives(rs, String(n))));
      rejects(rs, String(max + 1), /not a valid/);
    }
  });

  it('int8 keeps all 64 bits, beyond 2^53 too', () => {
    const rs = table(builtin('int8'));
    expect(cycle(rs, '9223372036854775807').decoded).toBe(INT64_MAX);
    textSurvives(rs, '-9223372036854775808');
    textSurvives(rs, '9007199254740993');
    fc.assert(
      fc.property(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), (n) => textSurvives(rs, n.toString())),
    );
    rejects(rs, '9223372036854775808', /not a valid int8/);
  });
});

describe('floating point', () => {
  it('float8 keeps NaN, ±Infinity, -0 and every double', () => {
    const rs = table(builtin('float8'));
    expect(Number.isNaN(cycle(rs, 'NaN').decoded)).toBe(true);
    expect(cycle(rs, 'Infinity').decoded).toBe(Number.POSITIVE_INFINITY);
    expect(cycle(rs, '-Infinity').decoded).toBe(Number.NEGATIVE_INFINITY);
    expect(Object.is(cycle(rs, '-0').decoded, -0)).toBe(true);
    // PostgreSQL's own spellings (exponent with two digits, shortest digits).
    expect(cycle(rs, '1e-07').decoded).toBe(1e-7);
    expect(cycle(rs, '1.7976931348623157e+308').decoded).toBe(Number.MAX_VALUE);
    expect(cycle(rs, '5e-324').decoded).toBe(Number.MIN_VALUE);
    fc.assert(
      fc.property(fc.double(), (x) => {
        const { decoded, back } = cycle(rs, toText(rs, x));
        expect(Object.is(decoded, x)).toBe(true);
        expect(Object.is(Number(back), x) || Number.isNaN(x)).toBe(true);
      }),
    );
  });

  it('float4 keeps every single-precision value with the shortest text', () => {
    const rs = table(builtin('float4'));
    expect(cycle(rs, '3.4028235e+38').decoded).toBe(Math.fround(3.4028235e38));
    expect(cycle(rs, '1e-45').decoded).toBe(Math.fround(1e-45));
    expect(cycle(rs, '0.1').back).toBe('0.1');
    fc.assert(
      fc.property(fc.float(), (x) => {
        const { decoded } = cycle(rs, toText(rs, x));
        expect(Object.is(decoded, x)).toBe(true);
      }),
    );
  });
});

describe('numeric', () => {
  it('numeric(p,s) becomes an exact decimal, 38 digits included', () => {
    textSurvives(table(builtin('numeric'), numericMod(38, 0)), '99999999999999999999999999999999999999');
    textSurvives(table(builtin('numeric'), numericMod(38, 0)), '-99999999999999999999999999999999999999');
    textSurvives(table(builtin('numeric'), numericMod(38, 38)), '0.99999999999999999999999999999999999999');
    textSurvives(table(builtin('numeric'), numericMod(38, 10)), '-9999999999999999999999999999.0000000001');
    textSurvives(table(builtin('numeric'), numericMod(10, 2)), '0.00');
    const shapes = fc
      .integer({ min: 1, max: 38 })
      .chain((p) => fc.tuple(fc.constant(p), fc.integer({ min: 0, max: p })));
    fc.assert(
      fc.property(
        shapes.chain(([p, s]) =>
          fc.tuple(
            fc.constant(p),
            fc.constant(s),
            fc.bigInt({ min: -(10n ** BigInt(p)) + 1n, max: 10n ** BigInt(p) - 1n }),
          ),
        ),
        ([p, s, unscaled]) => {
          const rs = table(builtin('numeric'), numericMod(p, s));
          const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(s + 1, '0');
          const text = `${unscaled < 0n ? '-' : ''}${s === 0 ? digits : `${digits.slice(0, -s)}.${digits.slice(-s)}`}`;
          textSurvives(rs, text);
        },
      ),
    );
  });

  it('a negative scale and a scale above the precision keep their values', () => {
    const negative = table(builtin('numeric'), numericMod(5, -2));
    expect(negative.row.fields[0]?.type).toEqual([
      'null',
      { type: 'bytes', logicalType: 'decimal', precision: 7, scale: 0 },
    ]);
    textSurvives(negative, '9999900');
    const small = table(builtin('numeric'), numericMod(3, 5));
    expect(small.row.fields[0]?.type).toEqual([
      'null',
      { type: 'bytes', logicalType: 'decimal', precision: 5, scale: 5 },
    ]);
    textSurvives(small, '-0.00123');
  });

  it('NaN in a numeric(p,s) is refused, not rounded into something else', () => {
    rejects(
      table(builtin('numeric'), numericMod(10, 2)),
      'NaN',
      /no NaN or Infinity; to replicate them, declare the column numeric without a precision/,
    );
    rejects(table(builtin('numeric'), numericMod(10, 2)), '1.234', /more than 2 decimals/);
  });

  it('numeric without precision keeps its exact text, NaN and ±Infinity included', () => {
    const rs = table(builtin('numeric'));
    expect(rs.row.fields[0]).toMatchObject({ type: ['null', 'string'], 'cdc.type': 'numeric' });
    for (const t of [
      'NaN',
      'Infinity',
      '-Infinity',
      '0',
      '-12.3400',
      `1${'0'.repeat(1000)}.${'9'.repeat(1000)}`,
    ]) {
      textSurvives(rs, t);
    }
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(fc.boolean(), digits, fc.option(digits), (neg, int, frac) =>
        textSurvives(rs, `${neg ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}`),
      ),
    );
    rejects(rs, '1e5', /not a valid numeric/);
  });
});

describe('text and friends', () => {
  it('text, varchar, bpchar and name keep every string: empty, huge, padded, any script', () => {
    for (const name of ['text', 'varchar', 'bpchar', 'name', 'char', 'xml']) {
      const rs = table(builtin(name));
      textSurvives(rs, '');
      textSurvives(rs, '  padded   ');
      fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (s) => textSurvives(rs, s)));
    }
    const huge = `${'é'.repeat(1_000_000)}🦀${'x'.repeat(3_000_000)}`;
    textSurvives(table(builtin('text')), huge);
  });

  it('bytes that are not UTF-8 (a SQL_ASCII database) are refused, naming the column', () => {
    const rs = table(builtin('text'));
    expect(cycle(rs, Buffer.from('héllo', 'utf8')).decoded).toBe('héllo');
    rejects(rs, Uint8Array.from([0x61, 0xff, 0x62]), /not valid UTF-8.*bytea/);
    rejects(rs, Uint8Array.from([0xc3]), /not valid UTF-8/);
  });

  it('bool, uuid, json and jsonb', () => {
    textSurvives(table(builtin('bool')), 't');
    textSurvives(table(builtin('bool')), 'f');
    fc.assert(fc.property(fc.uuid(), (u) => textSurvives(table(builtin('uuid')), u)));
    expect(cycle(table(builtin('uuid')), 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11').decoded).toBe(
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
    for (const name of ['json', 'jsonb']) {
      const rs = table(builtin(name));
      expect(rs.row.fields[0]).toMatchObject({ type: ['null', 'string'], 'cdc.type': name });
      fc.assert(fc.property(fc.json(), (j) => textSurvives(rs, j)));
    }
  });

  it('bytea keeps every byte string, empty included', () => {
    const rs = table(builtin('bytea'));
    expect(cycle(rs, '\\x0102').decoded).toEqual(Buffer.from([1, 2]));
    textSurvives(rs, '\\x');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (b) =>
        textSurvives(rs, `\\x${Buffer.from(b).toString('hex')}`),
      ),
    );
    rejects(rs, 'abc\\000', /bytea_output/);
  });
});

// PostgreSQL's range: 4714-11-24 BC to 5874897-12-31 (dates), to 294276-12-31 (timestamps, of
// which the int64 microseconds from 1970 reach 294247-01-10).
const FIRST_DAY = -2440588;
const LAST_DAY = 2145042905;
const FIRST_MICROS = BigInt(FIRST_DAY) * 86_400_000_000n;

/** An independent oracle: JavaScript's Date, in its ±275 760-year range. */
function viaDate(micros: bigint, tz: boolean): string {
  const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const iso = new Date(Number(ms)).toISOString();
  const m = /^([+-]\d{6}|\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d:\d\d)\.\d{3}Z$/.exec(iso) as RegExpExecArray;
  const year = Number(m[1]);
  const frac = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const time = `${m[4]}${frac === 0n ? '' : `.${frac.toString().padStart(6, '0').replace(/0+$/, '')}`}`;
  const bc = year <= 0;
  return `${String(bc ? 1 - year : year).padStart(4, '0')}-${m[2]}-${m[3]} ${time}${tz ? '+00' : ''}${bc ? ' BC' : ''}`;
}

describe('dates and times', () => {
  it('date: days from 1970, BC and far future, ±infinity', () => {
    const rs = table(builtin('date'));
    expect(cycle(rs, '1970-01-01').decoded).toBe(0);
    expect(cycle(rs, '1969-12-31').decoded).toBe(-1);
    expect(cycle(rs, '4714-11-24 BC').decoded).toBe(FIRST_DAY);
    expect(cycle(rs, '5874897-12-31').decoded).toBe(LAST_DAY);
    expect(cycle(rs, '0001-01-01 BC').decoded).toBe(-719528);
    expect(cycle(rs, 'infinity').decoded).toBe(INT32_MAX);
    expect(cycle(rs, '-infinity').decoded).toBe(INT32_MIN);
    for (const t of ['2038-01-19', '2000-02-29', '0044-03-15 BC', 'infinity', '-infinity'])
      textSurvives(rs, t);
    fc.assert(
      fc.property(fc.integer({ min: FIRST_DAY, max: LAST_DAY }), (days) => {
        const text = toText(rs, days);
        expect(cycle(rs, text).decoded).toBe(days);
        if (Math.abs(days) < 100_000_000) {
          expect(text).toBe(viaDate(BigInt(days) * 86_400_000_000n, false).replace(' 00:00:00', ''));
        }
      }),
    );
  });

  it('time: microseconds since midnight, 24:00:00 included', () => {
    const rs = table(builtin('time'));
    expect(cycle(rs, '24:00:00').decoded).toBe(86_400_000_000n);
    textSurvives(rs, '00:00:00');
    textSurvives(rs, '23:59:59.999999');
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 86_400_000_000n }), (us) => textSurvives(rs, toText(rs, us))),
    );
  });

  it('timetz: a string keeping the offset, written ±HH:MM[:SS]', () => {
    const rs = table(builtin('timetz'));
    expect(cycle(rs, '04:05:06.789+05').decoded).toBe('04:05:06.789+05:00');
    expect(cycle(rs, '04:05:06-03:30').decoded).toBe('04:05:06-03:30');
    expect(cycle(rs, '00:00:00+00:19:32').decoded).toBe('00:00:00+00:19:32');
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    fc.assert(
      fc.property(
        two(23),
        two(59),
        two(59),
        fc.option(fc.integer({ min: 0, max: 999_999 })),
        fc.constantFrom('+', '-'),
        two(15),
        two(59),
        (h, m, s, us, sign, oh, om) => {
          const frac = us === null ? '' : `.${String(us).padStart(6, '0')}`;
          textSurvives(rs, `${h}:${m}:${s}${frac}${sign}${oh}:${om}`);
        },
      ),
    );
  });

  it('timestamp: microseconds kept, before 1970, after 2038, BC, ±infinity', () => {
    const rs = table(builtin('timestamp'));
    expect(cycle(rs, '1970-01-01 00:00:00').decoded).toBe(0n);
    expect(cycle(rs, '1969-12-31 23:59:59.999999').decoded).toBe(-1n);
    expect(cycle(rs, '2038-01-19 03:14:08').decoded).toBe(2_147_483_648_000_000n);
    expect(cycle(rs, '4714-11-24 00:00:00 BC').decoded).toBe(FIRST_MICROS);
    expect(cycle(rs, '294247-01-10 04:00:54.775806').decoded).toBe(INT64_MAX - 1n);
    expect(cycle(rs, 'infinity').decoded).toBe(INT64_MAX);
    expect(cycle(rs, '-infinity').decoded).toBe(INT64_MIN);
    for (const t of ['1900-01-01 00:00:00.000001', '0001-01-01 00:00:00 BC', '2262-04-11 23:47:16.854776'])
      textSurvives(rs, t);
    rejects(rs, '294276-12-31 23:59:59.999999', /int64/);
    fc.assert(
      fc.property(fc.bigInt({ min: FIRST_MICROS, max: INT64_MAX - 1n }), (us) => {
        const text = toText(rs, us);
        textSurvives(rs, text);
        expect(cycle(rs, text).decoded).toBe(us);
        if (us > -8_640_000_000_000_000_000n && us < 8_640_000_000_000_000_000n)
          expect(text).toBe(viaDate(us, false));
      }),
    );
  });

  it('timestamptz: an instant in UTC microseconds, whatever offset it was printed with', () => {
    const rs = table(builtin('timestamptz'));
    expect(cycle(rs, '2024-01-01 12:00:00.123456+00').decoded).toBe(1_704_110_400_123_456n);
    expect(cycle(rs, '2024-01-01 17:30:00.123456+05:30').decoded).toBe(1_704_110_400_123_456n);
    // Amsterdam's local mean time before 1937: an offset with seconds.
    expect(cycle(rs, '1900-01-01 00:19:32+00:19:32').back).toBe('1900-01-01 00:00:00+00');
    expect(cycle(rs, '0044-03-15 12:00:00+00 BC').back).toBe('0044-03-15 12:00:00+00 BC');
    textSurvives(rs, 'infinity');
    textSurvives(rs, '-infinity');
    fc.assert(
      fc.property(fc.bigInt({ min: FIRST_MICROS, max: INT64_MAX - 1n }), (us) => {
        const text = toText(rs, us);
        textSurvives(rs, text);
        expect(cycle(rs, text).decoded).toBe(us);
        if (us > -8_640_000_000_000_000_000n && us < 8_640_000_000_000_000_000n)
          expect(text).toBe(viaDate(us, true));
      }),
    );
  });

  it('interval: months, days and microseconds kept apart, with their signs', () => {
    const rs = table(builtin('interval'));
    expect(cycle(rs, '1 year 2 mons 3 days 04:05:06.789').decoded).toEqual({
      months: 14,
      days: 3,
      micros: 14_706_789_000n,
    });
    expect(cycle(rs, '-1 years -2 mons +3 days -04:05:06').decoded).toEqual({
      months: -14,
      days: 3,
      micros: -14_706_000_000n,
    });
    expect(cycle(rs, '00:00:00').decoded).toEqual({ months: 0, days: 0, micros: 0n });
    expect(cycle(rs, '-00:00:00.000001').decoded).toEqual({ months: 0, days: 0, micros: -1n });
    expect(cycle(rs, '1 mon').decoded).toEqual({ months: 1, days: 0, micros: 0n });
    expect(cycle(rs, '2562047788:00:54.775807').decoded).toEqual({ months: 0, days: 0, micros: INT64_MAX });
    valueSurvives(rs, 'infinity');
    valueSurvives(rs, '-infinity');
    fc.assert(
      fc.property(
        fc.integer({ min: INT32_MIN, max: INT32_MAX }),
        fc.integer({ min: INT32_MIN, max: INT32_MAX }),
        fc.bigInt({ min: INT64_MIN + 1n, max: INT64_MAX - 1n }),
        (months, days, micros) => {
          expect(valueSurvives(rs, toText(rs, { months, days, micros }))).toEqual({ months, days, micros });
        },
      ),
    );
  });
});

describe('arrays', () => {
  it('one dimension with NULLs, in PostgreSQL spelling', () => {
    const ints = table(arrayOf(builtin('int4')));
    expect(cycle(ints, '{1,2,NULL}').decoded).toEqual([1, 2, null]);
    expect(cycle(ints, '{}').decoded).toEqual([]);
    const texts = table(arrayOf(builtin('text')));
    expect(cycle(texts, '{"a b","\\"q\\"",NULL,"NULL","",x\\,y,"{}"}').decoded).toEqual([
      'a b',
      '"q"',
      null,
      'NULL',
      '',
      'x,y',
      '{}',
    ]);
    const boxes = table(arrayOf(builtin('box'), ';'));
    expect(cycle(boxes, '{(1,1),(0,0);(2,2),(1,1)}').decoded).toEqual(['(1,1),(0,0)', '(2,2),(1,1)']);
  });

  it('arrays of every kind of element survive, nested, with NULLs', () => {
    const cases: [PgType, number, fc.Arbitrary<string>][] = [
      [builtin('int4'), -1, fc.integer().map(String)],
      [builtin('int8'), -1, fc.bigInt({ min: INT64_MIN, max: INT64_MAX }).map(String)],
      [builtin('text'), -1, fc.string({ unit: 'grapheme', maxLength: 20 })],
      [
        builtin('numeric'),
        numericMod(10, 2),
        fc.integer({ min: -99999999, max: 99999999 }).map((n) => (n / 100).toFixed(2)),
      ],
      [
        builtin('timestamptz'),
        -1,
        fc.bigInt({ min: FIRST_MICROS, max: INT64_MAX - 1n }).map((us) => viaDateOrInfinity(us)),
      ],
      [
        builtin('interval'),
        -1,
        fc.constantFrom('1 year 2 mons', '-3 days +00:00:01', '00:00:00.5', 'infinity'),
      ],
      [builtin('float8'), -1, fc.constantFrom('NaN', '-Infinity', '1.5', '-0', '1e-07')],
      [
        builtin('bytea'),
        -1,
        fc.uint8Array({ maxLength: 8 }).map((b) => `\\x${Buffer.from(b).toString('hex')}`),
      ],
      [builtin('jsonb'), -1, fc.json({ maxDepth: 2 })],
    ];
    for (const [element, typmod, texts] of cases) {
      for (const dims of [1, 2, 3]) {
        const rs = table(arrayOf(element), typmod, { dimensions: dims });
        const arb = nested(dims, fc.option(texts, { freq: 4 }));
        fc.assert(
          fc.property(arb, (value) => {
            const text = formatNested(value);
            valueSurvives(rs, text);
          }),
          { numRuns: 30 },
        );
      }
    }
  });

  it('a shape Avro cannot carry is refused, naming the column', () => {
    rejects(table(arrayOf(builtin('int4'))), '[0:1]={1,2}', /lower bound 0/);
    rejects(table(arrayOf(builtin('int4'))), '{{1},{2}}', /dimensions differ/);
    rejects(table(arrayOf(builtin('int4')), -1, { dimensions: 2 }), '{1,2}', /dimensions differ/);
    expect(cycle(table(arrayOf(builtin('int4'))), '[1:2]={1,2}').decoded).toEqual([1, 2]);
  });
});

function viaDateOrInfinity(us: bigint): string {
  return us > -8_640_000_000_000_000_000n && us < 8_640_000_000_000_000_000n ? viaDate(us, true) : 'infinity';
}

type Nested = Array<string | null | Nested>;

/** A rectangular array of `dims` dimensions. */
function nested(dims: number, leaf: fc.Arbitrary<string | null>): fc.Arbitrary<Nested> {
  return fc.array(fc.integer({ min: 1, max: 3 }), { minLength: dims, maxLength: dims }).chain((sizes) => {
    const build = (d: number): fc.Arbitrary<Nested> => {
      const item = d === dims - 1 ? leaf : build(d + 1);
      return fc.array(item as fc.Arbitrary<string | null | Nested>, {
        minLength: sizes[d],
        maxLength: sizes[d],
      });
    };
    return dims === 1 ? fc.oneof(fc.constant([] as Nested), build(0)) : build(0);
  });
}

function formatNested(v: Nested): string {
  return `{${v.map((x) => (x === null ? 'NULL' : Array.isArray(x) ? formatNested(x) : `"${x.replace(/["\\]/g, '\\$&')}"`)).join(',')}}`;
}

describe('enums, domains, other types', () => {
  const mood: PgType = { oid: 0, schema: 'public', name: 'mood', kind: 'enum', labels: ['sad', 'ok'] };

  it('an enum is a string with its labels recorded; a label added later still converts', () => {
    const rs = table(mood);
    expect(rs.row.fields[0]).toMatchObject({
      type: ['null', 'string'],
      'cdc.type': 'public.mood',
      'cdc.labels': ['sad', 'ok'],
    });
    textSurvives(rs, 'ok');
    textSurvives(rs, 'happy');
    const arr = table({ ...arrayOf(mood), schema: 'public', name: '_mood' });
    expect(cycle(arr, '{sad,NULL,ok}').decoded).toEqual(['sad', null, 'ok']);
  });

  it('a domain is its base type, with the domain recorded', () => {
    const money2: PgType = {
      oid: 0,
      schema: 'public',
      name: 'price',
      kind: 'domain',
      base: builtin('numeric'),
      baseTypmod: numericMod(10, 2),
    };
    const rs = table(money2);
    expect(rs.row.fields[0]).toMatchObject({
      type: ['null', { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 }],
      'cdc.type': 'numeric',
      'cdc.domain': 'public.price',
    });
    textSurvives(rs, '-12345678.90');
    const tags: PgType = {
      oid: 0,
      schema: 'public',
      name: 'tags',
      kind: 'domain',
      base: arrayOf(builtin('text')),
      baseTypmod: -1,
    };
    expect(cycle(table(tags), '{a,b}').decoded).toEqual(['a', 'b']);
  });

  it('unknown and extension types are strings with the type recorded', () => {
    const citext: PgType = { oid: 0, schema: 'public', name: 'citext', kind: 'base' };
    expect(table(citext).row.fields[0]).toMatchObject({
      type: ['null', 'string'],
      'cdc.type': 'public.citext',
    });
    for (const [name, text] of [
      ['inet', '192.168.0.1/24'],
      ['money', '$1,234.56'],
      ['tstzrange', '["2024-01-01 00:00:00+00",)'],
      ['point', '(1,2)'],
    ] as const) {
      textSurvives(table(builtin(name)), text);
      expect(table(builtin(name)).row.fields[0]).toMatchObject({
        type: ['null', 'string'],
        'cdc.type': name,
      });
    }
  });
});

describe('rows', () => {
  const rs = derivePgRowSchema({
    schema: 'shop',
    name: 'orders',
    columns: [
      { name: 'id', type: builtin('int8'), typmod: -1, notNull: true, isKey: true },
      { name: 'region', type: builtin('text'), typmod: -1, notNull: true, isKey: true },
      { name: 'note', type: builtin('text'), typmod: -1, notNull: false, isKey: false },
    ],
  });

  it('converts a row and takes its key', () => {
    const row = pgRowFromText(rs, ['42', 'eu', null]);
    expect(row).toEqual({ id: 42n, region: 'eu', note: null });
    expect(pgKeyFromRow(rs, row)).toEqual({ id: 42n, region: 'eu' });
    expect(pgRowToText(rs, row)).toEqual(['42', 'eu', null]);
  });

  it('refuses NULL in a NOT NULL column and a row of the wrong width', () => {
    expect(() => pgRowFromText(rs, [null, 'eu', null])).toThrow(/shop\.orders\.id is NOT NULL/);
    expect(() => pgRowFromText(rs, ['1', 'eu'])).toThrow(/a row of 2 columns for a relation of 3/);
  });
});

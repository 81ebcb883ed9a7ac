import { RawBytes } from '@cdc/clickhouse';
import { describe, expect, it } from 'vitest';
import { encodeRows, LineWriter, rawJsonString } from './row-encoder.ts';

describe('encodeRows', () => {
  it('writes bytes raw, bigints quoted and non-finite floats as ClickHouse reads them', () => {
    const out = encodeRows([
      {
        b: new RawBytes(Buffer.from([0xff, 0x22, 0x0a, 0x41])),
        n: 2n ** 63n - 1n,
        f: Number.NaN,
        g: -Infinity,
        z: -0,
      },
    ]);
    const expected = Buffer.concat([
      Buffer.from('{"b":'),
      Buffer.from([0x22, 0xff, 0x5c, 0x22]),
      Buffer.from('\\u000aA"'),
      Buffer.from(',"n":"9223372036854775807","f":"nan","g":"-inf","z":"-0"}\n'),
    ]);
    expect(out.equals(expected)).toBe(true);
  });

  it('escapes only quote, backslash and control bytes', () => {
    expect(rawJsonString(Buffer.from('a\\b')).toString()).toBe('"a\\\\b"');
  });
});

describe('encodeRows on flat rows (no replacer)', () => {
  it('writes the same bytes as for rows that need the replacer', () => {
    const flat = { id: 7n, price: 1.5, nan: Number.NaN, inf: Infinity, z: -0, s: 'a"\n', n: null, b: true };
    const expected =
      '{"id":"7","price":1.5,"nan":"nan","inf":"inf","z":"-0","s":"a\\"\\n","n":null,"b":true}\n';
    expect(encodeRows([flat]).toString()).toBe(expected);
    // The same row with a nested value goes the replacer's way and agrees on every shared field.
    const nested = encodeRows([{ ...flat, j: [1n] }]).toString();
    expect(nested).toBe(`${expected.slice(0, -2)},"j":["1"]}\n`);
  });

  it('keeps a column named __proto__', () => {
    const row = JSON.parse('{"__proto__":"proto","id":1}') as Record<string, unknown>;
    expect(encodeRows([row]).toString()).toBe('{"__proto__":"proto","id":1}\n');
  });
});

describe('LineWriter', () => {
  it('writes the bytes encodeRows writes, with where each line ends, growing as it needs', () => {
    const rows = [
      { id: 1n, s: 'é✓"', f: Number.NaN },
      { id: 2n, b: new RawBytes(Buffer.from([0xff, 0x00])) },
      { id: 3n, s: 'x'.repeat(5_000) },
    ];
    const writer = new LineWriter(8);
    for (const row of rows) writer.write(row);
    const all = encodeRows(rows);
    expect(writer.bytes().equals(all)).toBe(true);
    const lines = rows.map((r) => encodeRows([r]));
    expect(writer.ends).toEqual([lines[0]!.length, lines[0]!.length + lines[1]!.length, all.length]);
    const detached = writer.detach();
    expect(Buffer.from(detached).equals(all)).toBe(true);
  });
});

import { RawBytes } from '@cdc/clickhouse';
import { describe, expect, it } from 'vitest';
import { encodeRows, keyedLine, LineWriter, rawJsonString } from './row-encoder.ts';

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

describe('compact lines', () => {
  // Values that stress the scan in keyedLine: strings holding the JSON structure's own bytes
  // (quotes, backslashes, commas, brackets), raw bytes, nested arrays and maps, nulls.
  const rows: Record<string, unknown>[] = [
    { id: 1n, s: 'plain', n: 1.5, m: { a: 'b' }, arr: [1, [2, 3]], b: true },
    { id: 2n, s: 'q"u,o]t[e}{\\', n: Number.NaN, m: {}, arr: [], b: false },
    { id: 3n, s: '', n: -0, m: { '"k,]': 'v,[' }, arr: ['a,]"', null], b: null },
    { id: 4n, s: new RawBytes(Buffer.from([0xff, 0x5d, 0x2c, 0x22, 0x5c, 0x0a])), n: -Infinity, b: true },
    { id: 5n },
  ];
  const columns = ['id', 's', 'n', 'm', 'arr', 'b'];

  it('hold the values of the columns in order, null for those a row lacks', () => {
    const w = new LineWriter(8);
    w.writeCompact({ b: true, id: 7n, s: 'x' }, ['id', 's', 'n', 'b']);
    expect(w.bytes().toString()).toBe('["7","x",null,true]\n');
  });

  it('read back as the JSONEachRow line of the same row, byte for byte', () => {
    const compact = new LineWriter(8);
    const keyed = new LineWriter(8);
    for (const row of rows) {
      compact.writeCompact(row, columns);
      // The JSONEachRow line of the row with every column, in the columns' order.
      keyed.write(Object.fromEntries(columns.map((c) => [c, row[c] ?? null])));
    }
    const c = compact.bytes();
    const k = keyed.bytes();
    for (let i = 0; i < rows.length; i++) {
      const line = c.subarray(i === 0 ? 0 : compact.ends[i - 1], compact.ends[i]);
      const want = k.subarray(i === 0 ? 0 : keyed.ends[i - 1], keyed.ends[i]);
      expect(keyedLine(line, columns).toString('latin1')).toBe(want.toString('latin1'));
    }
  });

  it('refuse a line that does not hold the columns', () => {
    expect(() => keyedLine(Buffer.from('[1,2]\n'), ['a'])).toThrow(
      /not a JSONCompactEachRow line of 1 columns/,
    );
    expect(() => keyedLine(Buffer.from('[1]\n'), ['a', 'b'])).toThrow(/of 2 columns/);
    expect(() => keyedLine(Buffer.from('["a]\n'), ['a'])).toThrow(/of 1 columns/);
  });
});

describe('compact lines for a server that cannot read null into a column that is not Nullable', () => {
  it('leave nulls out with their names', () => {
    const line = Buffer.from('[null,"null",null,[null],null]\n');
    expect(keyedLine(line, ['a', 'b', 'c', 'd', 'e'], true).toString()).toBe('{"b":"null","d":[null]}\n');
    expect(keyedLine(Buffer.from('[null]\n'), ['a'], true).toString()).toBe('{}\n');
  });
});

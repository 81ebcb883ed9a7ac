import { describe, expect, it } from 'vitest';
import { CopyTextParser, unescapeCopyText } from './chunk-reader.ts';

describe('CopyTextParser', () => {
  it('cuts rows on newlines and columns on tabs, with \\N as null', () => {
    const p = new CopyTextParser();
    p.push(Buffer.from('1\ta\t\\N\n2\tb\tc\n'));
    expect(p.end()).toEqual([
      ['1', 'a', null],
      ['2', 'b', 'c'],
    ]);
  });

  it('joins a row and a multibyte character split across chunks', () => {
    const bytes = Buffer.from('1\tgrüße\n2\t€\n');
    const p = new CopyTextParser();
    for (let i = 0; i < bytes.length; i += 3) p.push(bytes.subarray(i, i + 3));
    expect(p.end()).toEqual([
      ['1', 'grüße'],
      ['2', '€'],
    ]);
  });

  it('undoes backslash escapes, so a value may hold tabs, newlines and backslashes', () => {
    const p = new CopyTextParser();
    p.push(Buffer.from('a\\tb\\nc\t\\\\x00ff\t\\\\N\n'));
    expect(p.end()).toEqual([['a\tb\nc', '\\x00ff', '\\N']]);
  });

  it('refuses output that ends inside a row', () => {
    const p = new CopyTextParser();
    p.push(Buffer.from('1\ta'));
    expect(() => p.end()).toThrow(/inside a row/);
  });
});

describe('unescapeCopyText', () => {
  it('reads octal and hex escapes and keeps an unknown escaped character', () => {
    expect(unescapeCopyText('\\101\\x42\\q\\r')).toBe('ABq\r');
  });
});

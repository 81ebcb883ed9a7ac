/**
 * PostgreSQL's array text form (`{1,2,NULL}`, `{{"a b","c"},{NULL,"\"q\""}}`) to nested JS
 * arrays of element texts, and back.
 *
 * Multi-dimensional arrays become nested Avro arrays as deep as the column is declared
 * (`int[][]` is `array<array<[null,int]>>`). PostgreSQL does not enforce the declared depth,
 * so a value of another depth is rejected, naming the column, as is a value with lower bounds
 * other than 1 (`[0:2]={…}`), which Avro arrays cannot carry: both go to the dead-letter topic
 * rather than lose their shape. Sub-arrays are never NULL in PostgreSQL; elements may be.
 */
import { CdcError } from '@cdc/core';
import { badText } from './temporal.ts';

export type ArrayText = Array<string | null | ArrayText>;

export function parseArrayText(text: string, delimiter = ','): ArrayText {
  let pos = 0;
  const fail = (why: string): CdcError => badText('array', text, `${why} at offset ${pos}`);
  const skipSpace = (): void => {
    while (pos < text.length && /\s/.test(text[pos] as string)) pos++;
  };
  if (text.startsWith('[')) {
    const m = /^((?:\[-?\d+:-?\d+\])+)=/.exec(text);
    if (!m) throw fail('bad dimension decoration');
    for (const [, lower] of (m[1] as string).matchAll(/\[(-?\d+):-?\d+\]/g)) {
      if (lower !== '1') {
        throw new CdcError(
          'POISON_RECORD',
          `array with lower bound ${lower}: Avro arrays start at 1 and cannot keep it; use 1-based arrays (array_lower(col,1) = 1)`,
          { context: { pgType: 'array' } },
        );
      }
    }
    pos = (m[0] as string).length;
  }
  const list = (): ArrayText => {
    if (text[pos] !== '{') throw fail("expected '{'");
    pos++;
    const items: ArrayText = [];
    skipSpace();
    if (text[pos] === '}') {
      pos++;
      return items;
    }
    for (;;) {
      skipSpace();
      if (text[pos] === '{') items.push(list());
      else if (text[pos] === '"') {
        pos++;
        let s = '';
        while (text[pos] !== '"') {
          if (pos >= text.length) throw fail('unterminated quote');
          if (text[pos] === '\\') pos++;
          s += text[pos];
          pos++;
        }
        pos++;
        items.push(s);
      } else {
        let s = '';
        let escaped = false;
        while (pos < text.length && text[pos] !== delimiter && text[pos] !== '}') {
          if (text[pos] === '\\') {
            pos++;
            escaped = true;
          }
          s += text[pos];
          pos++;
        }
        s = s.trim();
        if (s === '' && !escaped) throw fail('empty element');
        items.push(!escaped && s.toUpperCase() === 'NULL' ? null : s);
      }
      skipSpace();
      if (text[pos] === delimiter) pos++;
      else if (text[pos] === '}') {
        pos++;
        return items;
      } else throw fail(`expected '${delimiter}' or '}'`);
    }
  };
  const value = list();
  skipSpace();
  if (pos !== text.length) throw fail('trailing text');
  return value;
}

/** Every non-null element quoted, which PostgreSQL accepts for every element type. */
export function formatArrayText(value: ArrayText, delimiter = ','): string {
  const item = (v: string | null | ArrayText): string =>
    v === null
      ? 'NULL'
      : Array.isArray(v)
        ? formatArrayText(v, delimiter)
        : `"${v.replace(/["\\]/g, '\\$&')}"`;
  return `{${value.map(item).join(delimiter)}}`;
}

import { describe, expect, it } from 'vitest';
import {
  columnsOf,
  ExpressionError,
  evaluate,
  parseExpression,
  passes,
  toPostgresSql,
} from './expression.ts';

const row =
  (r: Record<string, unknown>) =>
  (path: string): unknown =>
    path.split('.').reduce<unknown>((v, p) => (v as Record<string, unknown> | null)?.[p], r);

describe('the row expression language', () => {
  it('keeps rows as SQL WHERE would: comparisons, and/or/not, in, is null, like', () => {
    const e = parseExpression("status <> 'deleted' and (amount >= 10 or vip) and country in ('FR', 'DE')");
    expect(passes(e, row({ status: 'open', amount: 12, vip: false, country: 'FR' }))).toBe(true);
    expect(passes(e, row({ status: 'deleted', amount: 12, vip: false, country: 'FR' }))).toBe(false);
    expect(passes(e, row({ status: 'open', amount: 2, vip: true, country: 'DE' }))).toBe(true);
    expect(passes(e, row({ status: 'open', amount: 2, vip: false, country: 'DE' }))).toBe(false);
    expect(passes(e, row({ status: 'open', amount: 20, vip: false, country: 'US' }))).toBe(false);
    // NULL compares to nothing: the row is dropped, as in SQL.
    expect(passes(e, row({ status: null, amount: 20, vip: false, country: 'FR' }))).toBe(false);
    expect(passes(parseExpression('not (status = 1)'), row({ status: null }))).toBe(false);
    expect(
      passes(parseExpression("email is null or email not like '%@test.%'"), row({ email: 'a@x.io' })),
    ).toBe(true);
    expect(passes(parseExpression("email like 'a_@%'"), row({ email: 'ab@x.io' }))).toBe(true);
    expect(passes(parseExpression("email like 'a_@%'"), row({ email: 'abc@x.io' }))).toBe(false);
    expect(passes(parseExpression('id not in (1, 2)'), row({ id: 3n }))).toBe(true);
    expect(passes(parseExpression('total > 9.5'), row({ total: '10.25' }))).toBe(true);
    expect(passes(parseExpression("address.city = 'Paris'"), row({ address: { city: 'Paris' } }))).toBe(true);
  });

  it('computes values: arithmetic, concatenation, functions', () => {
    expect(evaluate(parseExpression('price * quantity - 1'), row({ price: 2.5, quantity: 4 }))).toBe(9);
    expect(
      evaluate(parseExpression("lower(first) || ' ' || upper(last)"), row({ first: 'Ada', last: 'l' })),
    ).toBe('ada L');
    expect(evaluate(parseExpression('length(name)'), row({ name: 'héllo' }))).toBe(5);
    expect(evaluate(parseExpression('coalesce(nick, name)'), row({ nick: null, name: 'x' }))).toBe('x');
    expect(evaluate(parseExpression('a + 1'), row({ a: null }))).toBe(null);
  });

  it('renders PostgreSQL SQL that selects the same rows', () => {
    expect(
      toPostgresSql(
        parseExpression("status != 'it''s' and not vip or \"Order Id\" in (1, -2) and note is not null"),
      ),
    ).toBe(
      `(("status" <> 'it''s') AND (NOT "vip")) OR (("Order Id" IN (1, -2)) AND ("note" IS NOT NULL)))`.replace(
        /^/,
        '(',
      ),
    );
    expect(toPostgresSql(parseExpression("lower(email) like '%@x.io'"))).toBe(
      `(lower("email"::text)::text LIKE '%@x.io')`,
    );
  });

  it('lists the columns it reads', () => {
    expect(columnsOf(parseExpression('a > 1 and lower(b) = c or a is null'))).toEqual(['a', 'b', 'c']);
  });

  it('says what it expected and where on a syntax error', () => {
    const fail = (src: string) => {
      try {
        parseExpression(src);
      } catch (err) {
        expect(err).toBeInstanceOf(ExpressionError);
        return `${(err as ExpressionError).message} @${(err as ExpressionError).position}`;
      }
      return 'parsed';
    };
    expect(fail('amount >')).toBe('unexpected the end of the expression @8');
    expect(fail("status = 'open")).toBe('unterminated string @9');
    expect(fail('a in 1, 2')).toBe('expected ( but found number 1 @5');
    expect(fail('a like b')).toBe("like needs a 'pattern' string, found b @7");
    expect(fail('a = 1 b')).toBe('unexpected b @6');
    expect(fail('a # 1')).toBe('unexpected character "#" @2');
  });
});

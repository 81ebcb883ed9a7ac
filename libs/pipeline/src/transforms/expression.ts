/**
 * The row expression language of `filter` and `computed` columns: parsed once at start, then
 * evaluated per row, rendered as PostgreSQL SQL (for `cdc verify`) and asked which columns it
 * reads (checked against the table's columns).
 *
 * Written here rather than taken from an expression library because it must do three things
 * with one grammar — evaluate with SQL's three-valued logic, render to PostgreSQL SQL that
 * selects exactly the same rows, and list the columns it reads — and the grammar is ~30 rules.
 *
 * | form                                  | meaning                                           |
 * |---------------------------------------|---------------------------------------------------|
 * | `amount`, `"Order Id"`, `address.city`| a column (a quoted name; a dotted path in a MongoDB document) |
 * | `12`, `-3.5`, `'text'`, `true`, `null`| literals (`''` inside a string is a quote)         |
 * | `= != <> < <= > >=`                   | comparisons (null on either side gives null)       |
 * | `a and b`, `a or b`, `not a`          | SQL three-valued logic                             |
 * | `x in (1, 2)`, `x not in ('a')`       | membership                                         |
 * | `x is null`, `x is not null`          | nullness                                           |
 * | `x like 'a%_'`, `x not like …`        | `%` any run, `_` one character (case-sensitive)    |
 * | `+ - * /`, `\|\|`                     | arithmetic, string concatenation                   |
 * | `lower(x) upper(x) length(x) coalesce(x, y…)` | functions                                  |
 *
 * A filter keeps a row when the expression is true (null or false drop it, as in SQL `WHERE`).
 */

export type Literal = string | number | boolean | null;

export type Expr =
  | { kind: 'lit'; value: Literal }
  | { kind: 'col'; path: string }
  | { kind: 'not'; arg: Expr }
  | { kind: 'neg'; arg: Expr }
  | { kind: 'logic'; op: 'and' | 'or'; left: Expr; right: Expr }
  | { kind: 'cmp'; op: '=' | '!=' | '<' | '<=' | '>' | '>='; left: Expr; right: Expr }
  | { kind: 'arith'; op: '+' | '-' | '*' | '/' | '||'; left: Expr; right: Expr }
  | { kind: 'in'; arg: Expr; values: Literal[]; negated: boolean }
  | { kind: 'isnull'; arg: Expr; negated: boolean }
  | { kind: 'like'; arg: Expr; pattern: string; negated: boolean }
  | { kind: 'call'; fn: 'lower' | 'upper' | 'length' | 'coalesce'; args: Expr[] };

/** A syntax error, with the character position it was found at. */
export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
  readonly position: number;
  constructor(message: string, position: number) {
    super(message);
    this.position = position;
  }
}

type Token =
  | { t: 'num'; v: number; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'id'; v: string; quoted: boolean; at: number }
  | { t: 'op'; v: string; at: number }
  | { t: 'end'; at: number };

const OPS = ['<=', '>=', '!=', '<>', '==', '||', '=', '<', '>', '(', ')', ',', '+', '-', '*', '/', '.'];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i)) as RegExpExecArray;
      out.push({ t: 'num', v: Number(m[0]), at });
      i += m[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= src.length)
          throw new ExpressionError(`unterminated ${c === "'" ? 'string' : 'quoted name'}`, at);
        if (src[i] === c) {
          if (src[i + 1] === c) {
            v += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += src[i];
        i++;
      }
      out.push(c === "'" ? { t: 'str', v, at } : { t: 'id', v, quoted: true, at });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(src.slice(i)) as RegExpExecArray;
      out.push({ t: 'id', v: m[0], quoted: false, at });
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new ExpressionError(`unexpected character ${JSON.stringify(c)}`, at);
    out.push({ t: 'op', v: op, at });
    i += op.length;
  }
  out.push({ t: 'end', at: src.length });
  return out;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'null', 'like', 'true', 'false']);
const FUNCTIONS = new Set(['lower', 'upper', 'length', 'coalesce']);

class Parser {
  private i = 0;
  private readonly tokens: Token[];
  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  private peek(): Token {
    return this.tokens[this.i] as Token;
  }
  private next(): Token {
    return this.tokens[this.i++] as Token;
  }
  private isWord(word: string, t: Token = this.peek()): boolean {
    return t.t === 'id' && !t.quoted && t.v.toLowerCase() === word;
  }
  private isOp(op: string, t: Token = this.peek()): boolean {
    return t.t === 'op' && t.v === op;
  }
  private expectOp(op: string): void {
    const t = this.next();
    if (!this.isOp(op, t)) throw new ExpressionError(`expected ${op} but found ${describe(t)}`, t.at);
  }
  private expectWord(word: string): void {
    const t = this.next();
    if (!this.isWord(word, t)) throw new ExpressionError(`expected ${word} but found ${describe(t)}`, t.at);
  }

  parseAll(): Expr {
    const e = this.or();
    const t = this.peek();
    if (t.t !== 'end') throw new ExpressionError(`unexpected ${describe(t)}`, t.at);
    return e;
  }

  private or(): Expr {
    let left = this.and();
    while (this.isWord('or')) {
      this.next();
      left = { kind: 'logic', op: 'or', left, right: this.and() };
    }
    return left;
  }
  private and(): Expr {
    let left = this.not();
    while (this.isWord('and')) {
      this.next();
      left = { kind: 'logic', op: 'and', left, right: this.not() };
    }
    return left;
  }
  private not(): Expr {
    if (this.isWord('not')) {
      this.next();
      return { kind: 'not', arg: this.not() };
    }
    return this.comparison();
  }
  private comparison(): Expr {
    const left = this.additive();
    const t = this.peek();
    if (t.t === 'op' && ['=', '==', '!=', '<>', '<', '<=', '>', '>='].includes(t.v)) {
      this.next();
      const op = t.v === '==' ? '=' : t.v === '<>' ? '!=' : t.v;
      return { kind: 'cmp', op: op as '=', left, right: this.additive() };
    }
    if (this.isWord('is')) {
      this.next();
      const negated = this.isWord('not');
      if (negated) this.next();
      this.expectWord('null');
      return { kind: 'isnull', arg: left, negated };
    }
    let negated = false;
    if (this.isWord('not')) {
      const after = this.tokens[this.i + 1] as Token;
      if (this.isWord('in', after) || this.isWord('like', after)) {
        this.next();
        negated = true;
      }
    }
    if (this.isWord('in')) {
      this.next();
      this.expectOp('(');
      const values: Literal[] = [this.literal()];
      while (this.isOp(',')) {
        this.next();
        values.push(this.literal());
      }
      this.expectOp(')');
      return { kind: 'in', arg: left, values, negated };
    }
    if (this.isWord('like')) {
      this.next();
      const p = this.next();
      if (p.t !== 'str')
        throw new ExpressionError(`like needs a 'pattern' string, found ${describe(p)}`, p.at);
      return { kind: 'like', arg: left, pattern: p.v, negated };
    }
    return left;
  }
  private additive(): Expr {
    let left = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (!(t.t === 'op' && (t.v === '+' || t.v === '-' || t.v === '||'))) return left;
      this.next();
      left = { kind: 'arith', op: t.v as '+', left, right: this.multiplicative() };
    }
  }
  private multiplicative(): Expr {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (!(t.t === 'op' && (t.v === '*' || t.v === '/'))) return left;
      this.next();
      left = { kind: 'arith', op: t.v as '*', left, right: this.unary() };
    }
  }
  private unary(): Expr {
    if (this.isOp('-')) {
      this.next();
      const arg = this.unary();
      if (arg.kind === 'lit' && typeof arg.value === 'number') return { kind: 'lit', value: -arg.value };
      return { kind: 'neg', arg };
    }
    return this.primary();
  }
  private literal(): Literal {
    const t = this.next();
    if (t.t === 'num' || t.t === 'str') return t.v;
    if (this.isOp('-', t)) {
      const n = this.next();
      if (n.t === 'num') return -n.v;
      throw new ExpressionError(`expected a number after -, found ${describe(n)}`, n.at);
    }
    if (this.isWord('true', t)) return true;
    if (this.isWord('false', t)) return false;
    if (this.isWord('null', t)) return null;
    throw new ExpressionError(
      `expected a literal (number, 'string', true, false, null), found ${describe(t)}`,
      t.at,
    );
  }
  private primary(): Expr {
    const t = this.peek();
    if (t.t === 'num' || t.t === 'str') {
      this.next();
      return { kind: 'lit', value: t.v };
    }
    if (this.isOp('(')) {
      this.next();
      const e = this.or();
      this.expectOp(')');
      return e;
    }
    if (t.t === 'id') {
      if (!t.quoted) {
        const w = t.v.toLowerCase();
        if (w === 'true' || w === 'false' || w === 'null') {
          this.next();
          return { kind: 'lit', value: w === 'null' ? null : w === 'true' };
        }
        if (FUNCTIONS.has(w) && this.isOp('(', this.tokens[this.i + 1])) {
          this.next();
          this.next();
          const args: Expr[] = [this.or()];
          while (this.isOp(',')) {
            this.next();
            args.push(this.or());
          }
          this.expectOp(')');
          const want = w === 'coalesce' ? undefined : 1;
          if (want !== undefined && args.length !== want)
            throw new ExpressionError(`${w}() takes ${want} argument, got ${args.length}`, t.at);
          return { kind: 'call', fn: w as 'lower', args };
        }
        if (KEYWORDS.has(w)) throw new ExpressionError(`unexpected ${w}`, t.at);
      }
      this.next();
      let path = t.v;
      while (this.isOp('.')) {
        this.next();
        const part = this.next();
        if (part.t !== 'id')
          throw new ExpressionError(`expected a field name after '.', found ${describe(part)}`, part.at);
        path += `.${part.v}`;
      }
      return { kind: 'col', path };
    }
    throw new ExpressionError(`unexpected ${describe(t)}`, t.at);
  }
}

function describe(t: Token): string {
  switch (t.t) {
    case 'end':
      return 'the end of the expression';
    case 'num':
      return `number ${t.v}`;
    case 'str':
      return `string '${t.v}'`;
    case 'id':
      return t.quoted ? `"${t.v}"` : t.v;
    case 'op':
      return `'${t.v}'`;
  }
}

/** Parses `src`; throws `ExpressionError` naming what was expected and where. */
export function parseExpression(src: string): Expr {
  return new Parser(tokenize(src)).parseAll();
}

/** The column paths an expression reads, in order of first use. */
export function columnsOf(e: Expr, out: string[] = []): string[] {
  switch (e.kind) {
    case 'col':
      if (!out.includes(e.path)) out.push(e.path);
      break;
    case 'lit':
      break;
    case 'not':
    case 'neg':
    case 'in':
    case 'isnull':
    case 'like':
      columnsOf(e.arg, out);
      break;
    case 'logic':
    case 'cmp':
    case 'arith':
      columnsOf(e.left, out);
      columnsOf(e.right, out);
      break;
    case 'call':
      for (const a of e.args) columnsOf(a, out);
      break;
  }
  return out;
}

/** Reads a column's value from the row being evaluated (undefined counts as null). */
export type RowReader = (path: string) => unknown;

/** A value as the evaluator sees it: bigint and Date become numbers, Uint8Array stays. */
function norm(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  return v;
}

function compare(a: unknown, b: unknown): number | null {
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  // Numeric text (PostgreSQL numeric arrives as text) compares as a number with a number.
  if (typeof a === 'number' && typeof b === 'string' && b.trim() !== '' && !Number.isNaN(Number(b)))
    return compare(a, Number(b));
  if (typeof a === 'string' && typeof b === 'number' && a.trim() !== '' && !Number.isNaN(Number(a)))
    return compare(Number(a), b);
  const sa = typeof a === 'string' ? a : JSON.stringify(a);
  const sb = typeof b === 'string' ? b : JSON.stringify(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

const likeCache = new Map<string, RegExp>();
function likeRegex(pattern: string): RegExp {
  let re = likeCache.get(pattern);
  if (!re) {
    const body = [...pattern]
      .map((ch) =>
        ch === '%' ? '[\\s\\S]*' : ch === '_' ? '[\\s\\S]' : ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'),
      )
      .join('');
    re = new RegExp(`^${body}$`, 'u');
    likeCache.set(pattern, re);
  }
  return re;
}

/** Evaluates with SQL semantics: null propagates, `and`/`or` are three-valued. */
export function evaluate(e: Expr, read: RowReader): unknown {
  switch (e.kind) {
    case 'lit':
      return e.value;
    case 'col':
      return norm(read(e.path));
    case 'not': {
      const v = evaluate(e.arg, read);
      return v === null ? null : !truthy(v);
    }
    case 'neg': {
      const v = evaluate(e.arg, read);
      return v === null ? null : -Number(v);
    }
    case 'logic': {
      const l = evaluate(e.left, read);
      if (e.op === 'and') {
        if (l !== null && !truthy(l)) return false;
        const r = evaluate(e.right, read);
        if (r !== null && !truthy(r)) return false;
        return l === null || r === null ? null : true;
      }
      if (l !== null && truthy(l)) return true;
      const r = evaluate(e.right, read);
      if (r !== null && truthy(r)) return true;
      return l === null || r === null ? null : false;
    }
    case 'cmp': {
      const c = compare(evaluate(e.left, read), evaluate(e.right, read));
      if (c === null) return null;
      switch (e.op) {
        case '=':
          return c === 0;
        case '!=':
          return c !== 0;
        case '<':
          return c < 0;
        case '<=':
          return c <= 0;
        case '>':
          return c > 0;
        case '>=':
          return c >= 0;
      }
      return null;
    }
    case 'arith': {
      const l = evaluate(e.left, read);
      const r = evaluate(e.right, read);
      if (l === null || r === null) return null;
      if (e.op === '||') return textOf(l) + textOf(r);
      const a = Number(l);
      const b = Number(r);
      if (e.op === '+') return a + b;
      if (e.op === '-') return a - b;
      if (e.op === '*') return a * b;
      return b === 0 ? null : a / b;
    }
    case 'in': {
      const v = evaluate(e.arg, read);
      if (v === null) return null;
      let sawNull = false;
      for (const x of e.values) {
        const c = compare(v, x);
        if (c === null) sawNull = true;
        else if (c === 0) return !e.negated;
      }
      return sawNull ? null : e.negated;
    }
    case 'isnull': {
      const isNull = evaluate(e.arg, read) === null;
      return e.negated ? !isNull : isNull;
    }
    case 'like': {
      const v = evaluate(e.arg, read);
      if (v === null) return null;
      const m = likeRegex(e.pattern).test(textOf(v));
      return e.negated ? !m : m;
    }
    case 'call': {
      const args = e.args.map((a) => evaluate(a, read));
      if (e.fn === 'coalesce') return args.find((a) => a !== null) ?? null;
      const v = args[0];
      if (v === null || v === undefined) return null;
      if (e.fn === 'lower') return textOf(v).toLowerCase();
      if (e.fn === 'upper') return textOf(v).toUpperCase();
      return [...textOf(v)].length;
    }
  }
}

function truthy(v: unknown): boolean {
  return v === true || (typeof v === 'number' && v !== 0) || (typeof v === 'string' && v !== '');
}

function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return String(v);
}

/** Whether a filter keeps a row: only a true result does (null and false drop it). */
export function passes(e: Expr, read: RowReader): boolean {
  const v = evaluate(e, read);
  return v !== null && truthy(v);
}

/**
 * The expression as a PostgreSQL boolean/scalar expression. `column` renders a column path
 * (default: the quoted name); literals are inlined with SQL quoting.
 */
export function toPostgresSql(e: Expr, column: (path: string) => string = quoteIdent): string {
  const r = (x: Expr): string => toPostgresSql(x, column);
  switch (e.kind) {
    case 'lit':
      return sqlLiteral(e.value);
    case 'col':
      return column(e.path);
    case 'not':
      return `(NOT ${r(e.arg)})`;
    case 'neg':
      return `(-${r(e.arg)})`;
    case 'logic':
      return `(${r(e.left)} ${e.op.toUpperCase()} ${r(e.right)})`;
    case 'cmp':
      return `(${r(e.left)} ${e.op === '!=' ? '<>' : e.op} ${r(e.right)})`;
    case 'arith':
      return e.op === '||'
        ? `(${r(e.left)}::text || ${r(e.right)}::text)`
        : `(${r(e.left)} ${e.op} ${r(e.right)})`;
    case 'in':
      return `(${r(e.arg)} ${e.negated ? 'NOT IN' : 'IN'} (${e.values.map(sqlLiteral).join(', ')}))`;
    case 'isnull':
      return `(${r(e.arg)} IS ${e.negated ? 'NOT ' : ''}NULL)`;
    case 'like':
      return `(${r(e.arg)}::text ${e.negated ? 'NOT LIKE' : 'LIKE'} ${sqlLiteral(e.pattern)})`;
    case 'call':
      if (e.fn === 'length') return `char_length(${r(e.args[0] as Expr)}::text)`;
      if (e.fn === 'coalesce') return `coalesce(${e.args.map(r).join(', ')})`;
      return `${e.fn}(${r(e.args[0] as Expr)}::text)`;
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function sqlLiteral(v: Literal): string {
  if (v === null) return 'NULL';
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (typeof v === 'number') return String(v);
  return `'${v.replaceAll("'", "''")}'`;
}

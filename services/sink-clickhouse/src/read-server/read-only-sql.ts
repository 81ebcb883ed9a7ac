/**
 * Which SQL the read-only endpoint runs. The embedded engine is shared with the sink's writes,
 * so the endpoint cannot rely on the engine alone: `readonly = 1` (appended as a query-level
 * `SETTINGS` clause, which the engine applies before the statement's own settings) refuses
 * writes, DDL and table functions such as `file()` and `url()`, but the engine still runs
 * several statements separated by `;` (and a `SET` among them would change the session the
 * sink writes through), still runs `KILL QUERY` (which could kill the sink's insert), and still
 * writes `SELECT … INTO OUTFILE`. So a statement is checked here first:
 *
 * - one statement (a trailing `;` is dropped), found with a tokenizer that knows ClickHouse's
 *   strings, quoted names and comments;
 * - its first word is SELECT, WITH, SHOW, DESC/DESCRIBE, EXISTS or EXPLAIN (or a `(`);
 * - no `INTO OUTFILE`.
 *
 * Everything else is refused the way a ClickHouse server refuses it for a `readonly = 1` user
 * (code 164, READONLY), or as a syntax error (62) for several statements. The tokenizer errs on
 * the side of refusing: what it cannot read (a heredoc, an unterminated string) never hides a `;`.
 */

export interface ReadStatement {
  /** The statement up to its last token (without the trailing `;`). */
  sql: string;
  /** The format named by a `FORMAT` clause, if the statement has one. */
  format: string | undefined;
}

export interface SqlRefusal {
  code: number;
  type: string;
  message: string;
}

const READ_STATEMENTS = new Set(['SELECT', 'WITH', 'SHOW', 'DESC', 'DESCRIBE', 'EXISTS', 'EXPLAIN']);

interface Token {
  kind: 'word' | 'punct' | 'string' | 'quoted' | 'number';
  text: string;
  start: number;
  end: number;
  depth: number;
}

/** Tokens outside comments; `unterminated` when a string or comment runs to the end. */
export function tokenize(sql: string): { tokens: Token[]; unterminated: boolean } {
  const tokens: Token[] = [];
  let i = 0;
  let depth = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if ((c === '-' && sql[i + 1] === '-') || c === '#') {
      while (i < n && sql[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      if (close < 0) return { tokens, unterminated: true };
      i = close + 2;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      const start = i;
      i++;
      let closed = false;
      while (i < n) {
        const d = sql[i]!;
        if (d === '\\') {
          i += 2;
          continue;
        }
        if (d === c) {
          if (sql[i + 1] === c) {
            i += 2;
            continue;
          }
          i++;
          closed = true;
          break;
        }
        i++;
      }
      if (!closed) return { tokens, unterminated: true };
      tokens.push({ kind: c === "'" ? 'string' : 'quoted', text: sql.slice(start, i), start, end: i, depth });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z0-9_]/.test(sql[i]!)) i++;
      tokens.push({ kind: 'word', text: sql.slice(start, i), start, end: i, depth });
      continue;
    }
    if (/[0-9]/.test(c)) {
      const start = i;
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i]!)) i++;
      tokens.push({ kind: 'number', text: sql.slice(start, i), start, end: i, depth });
      continue;
    }
    if (c === '(' || c === '[') depth++;
    tokens.push({ kind: 'punct', text: c, start: i, end: i + 1, depth });
    if (c === ')' || c === ']') depth = Math.max(0, depth - 1);
    i++;
  }
  return { tokens, unterminated: false };
}

const readonlyRefusal = (what: string): SqlRefusal => ({
  code: 164,
  type: 'READONLY',
  message: `Cannot execute query in readonly mode: ${what}. This endpoint serves reads of the sink's embedded database (SELECT, WITH, SHOW, DESCRIBE, EXISTS, EXPLAIN); the sink is its only writer`,
});

/** The statement to run, or why it is refused. */
export function checkReadOnly(sql: string): ReadStatement | SqlRefusal {
  const { tokens, unterminated } = tokenize(sql);
  if (unterminated)
    return {
      code: 62,
      type: 'SYNTAX_ERROR',
      message: 'Syntax error: a string, quoted name or comment is not closed',
    };
  // A trailing `;` (and nothing after it) is allowed; any other `;` means several statements.
  let last = tokens.length;
  while (last > 0 && tokens[last - 1]!.text === ';') last--;
  const body = tokens.slice(0, last);
  if (body.some((t) => t.kind === 'punct' && t.text === ';'))
    return {
      code: 62,
      type: 'SYNTAX_ERROR',
      message: 'Syntax error (Multi-statements are not allowed): send one statement per request',
    };
  const first = body.find((t) => !(t.kind === 'punct' && t.text === '('));
  if (!first) return { code: 62, type: 'SYNTAX_ERROR', message: 'Empty query' };
  const keyword = first.kind === 'word' ? first.text.toUpperCase() : first.text;
  if (!READ_STATEMENTS.has(keyword)) return readonlyRefusal(`${keyword} is not a read`);
  let format: string | undefined;
  for (let k = 0; k < body.length; k++) {
    const t = body[k]!;
    if (t.kind !== 'word') continue;
    const next = body[k + 1];
    const word = t.text.toUpperCase();
    if (word === 'INTO' && next?.kind === 'word' && next.text.toUpperCase() === 'OUTFILE')
      return readonlyRefusal('INTO OUTFILE writes a file');
    if (word === 'FORMAT' && t.depth === 0 && next?.kind === 'word' && next.depth === 0) {
      const after = body[k + 2];
      if (!after || (after.kind === 'word' && after.text.toUpperCase() === 'SETTINGS')) format = next.text;
    }
  }
  // Up to the last token: the trailing `;` and comments after it go.
  return { sql: sql.slice(0, body.at(-1)!.end), format };
}

export function isRefusal(r: ReadStatement | SqlRefusal): r is SqlRefusal {
  return 'code' in r;
}

/**
 * Reads a window of a table by primary key for the chunked snapshot (initial or incremental):
 * the keys after the last one read are cut into `readers.length` ranges of about `chunkRows`
 * rows each (split points read from the key's index in one query), and every range is read at
 * the same time on its own connection with `COPY (SELECT … WHERE key range …) TO STDOUT`, whose
 * text rows are parsed here (PostgreSQL's text form of every value, as pgoutput sends it).
 *
 * Works for any primary key (integer, uuid, text, composite): ranges are row comparisons
 * `(k1, k2) > (…)` in the key's own order, the order `ORDER BY k1, k2` and the index use.
 * Memory is bounded by the window: at most `readers.length · chunkRows` rows (a little more if
 * rows are inserted into a bounded range between the split and the read); the caller sizes
 * `chunkRows` by the bytes per row it has seen.
 */
import type { PgTextValue } from '@cdc/avro';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { qualified } from '../slot.ts';

export interface KeyWindow {
  /** `schema.table`. */
  table: string;
  /** Every column to read (quoted identifiers built here), in the row schema's order. */
  columns: readonly string[];
  /** Indexes of the key columns in `columns`, in the key's order. */
  keyIndexes: readonly number[];
  /** Exclusive lower bound (text values of the key columns); null: none. */
  after: readonly string[] | null;
  /** Inclusive lower bound, used when `after` is null; null: none. */
  from?: readonly string[] | null;
  /** Inclusive upper bound; null: none. */
  to?: readonly string[] | null;
  chunkRows: number;
}

export interface WindowRead {
  /** The rows, range after range (each range in key order). */
  rows: PgTextValue[][];
  /** Text values of the key of the last row read (null: no row). */
  lastKey: string[] | null;
  /** Whether the read reached the end of the key space (or of `to`). */
  last: boolean;
  /** Bytes of COPY output read (to size the next window by the row size). */
  bytes: number;
  /**
   * The MVCC snapshot of each connection's reads (`pg_current_snapshot()` text): the merge with
   * the stream needs to know which committed transactions the rows reflect (`read-snapshot.ts`).
   */
  snapshots: string[];
}

const quote = (c: string) => `"${c.replaceAll('"', '""')}"`;

/** Reads one window with `readers` in parallel (at least one). */
export async function readWindow(readers: readonly pg.ClientBase[], w: KeyWindow): Promise<WindowRead> {
  const first = readers[0];
  if (!first) throw new Error('readWindow needs at least one reader connection');
  const rel = qualified(w.table);
  const keyCols = w.keyIndexes.map((i) => quote(w.columns[i] as string));
  const keyList = keyCols.join(', ');
  const lit = (key: readonly string[]) => `(${key.map((k) => first.escapeLiteral(k)).join(', ')})`;
  const lowerBound = w.after
    ? `(${keyList}) > ${lit(w.after)}`
    : w.from
      ? `(${keyList}) >= ${lit(w.from)}`
      : null;
  const upperBound = w.to ? `(${keyList}) <= ${lit(w.to)}` : null;
  const bounds = (lo: string | null, hi: string | null) => where([lo, hi].filter((c) => c !== null));
  const cols = w.columns.map(quote).join(', ');
  // Split points: the key of every chunkRows-th row after the lower bound (an index-only scan
  // of at most (readers - 1) · chunkRows keys).
  const splits: string[][] = [];
  if (readers.length > 1) {
    const keyText = keyCols.map((k, i) => `${k}::text AS k${i}`).join(', ');
    const { rows } = await first.query<Record<string, string>>(
      `SELECT ${keyCols.map((_, i) => `k${i}`).join(', ')} FROM (
         SELECT ${keyText}, row_number() OVER (ORDER BY ${keyList}) AS rn FROM (
           SELECT ${keyList} FROM ${rel} ${bounds(lowerBound, upperBound)} ORDER BY ${keyList} LIMIT ${(readers.length - 1) * w.chunkRows}
         ) s
       ) n WHERE rn % ${w.chunkRows} = 0 ORDER BY rn`,
    );
    for (const r of rows) splits.push(keyCols.map((_, i) => r[`k${i}`] as string));
  }
  // Ranges: (lower, s1], (s1, s2], …, then (s_last, upper] in key order, at most chunkRows rows.
  const queries: string[] = [];
  let lower = lowerBound;
  for (const s of splits) {
    queries.push(`SELECT ${cols} FROM ${rel} ${bounds(lower, `(${keyList}) <= ${lit(s)}`)}`);
    lower = `(${keyList}) > ${lit(s)}`;
  }
  queries.push(
    `SELECT ${cols} FROM ${rel} ${bounds(lower, upperBound)} ORDER BY ${keyList} LIMIT ${w.chunkRows}`,
  );
  const parts: PgTextValue[][][] = new Array(queries.length);
  const snapshots: string[] = [];
  let bytes = 0;
  let next = 0;
  await Promise.all(
    readers.slice(0, queries.length).map(async (client) => {
      // One REPEATABLE READ transaction per connection, so its ranges are read in the one
      // snapshot reported here (an autocommit COPY would take a snapshot nobody can ask about).
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const snap = await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
        snapshots.push(snap.rows[0]!.s);
        for (let q = next++; q < queries.length; q = next++) {
          const part = await copyRows(client, queries[q]!);
          parts[q] = part.rows;
          bytes += part.bytes;
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }),
  );
  const tail = parts.at(-1) ?? [];
  const rows = parts.flat();
  const lastRow = rows.at(-1);
  return {
    rows,
    lastKey: lastRow ? w.keyIndexes.map((i) => lastRow[i] as string) : null,
    last: tail.length < w.chunkRows,
    bytes,
    snapshots,
  };
}

const where = (conds: readonly string[]): string => (conds.length > 0 ? `WHERE ${conds.join(' AND ')}` : '');

/** Runs `COPY (query) TO STDOUT` and parses its text rows; `bytes`: the size of the output. */
export async function copyRows(
  client: pg.ClientBase,
  query: string,
): Promise<{ rows: PgTextValue[][]; bytes: number }> {
  const stream = client.query(copyTo(`COPY (${query}) TO STDOUT`));
  const parser = new CopyTextParser();
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += (chunk as Buffer).length;
    parser.push(chunk as Buffer);
  }
  return { rows: parser.end(), bytes };
}

/**
 * PostgreSQL's COPY text format: one row per line, columns separated by tabs, `\N` for null,
 * backslash escapes for backslash, tab, newline and the rest. A data byte 0x0A is always a row
 * end (a newline inside a value is escaped), so lines are cut on bytes and decoded whole.
 */
export class CopyTextParser {
  private rest: Buffer | null = null;
  private readonly rows: PgTextValue[][] = [];

  push(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    const end = buf.lastIndexOf(0x0a);
    if (end < 0) {
      this.rest = buf;
      return;
    }
    this.rest = end + 1 < buf.length ? buf.subarray(end + 1) : null;
    const text = buf.toString('utf8', 0, end);
    for (const line of text.split('\n')) this.rows.push(parseLine(line));
  }

  end(): PgTextValue[][] {
    if (this.rest && this.rest.length > 0) throw new Error('COPY output ended inside a row');
    return this.rows;
  }
}

function parseLine(line: string): PgTextValue[] {
  const fields = line.split('\t');
  const out: PgTextValue[] = new Array(fields.length);
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as string;
    out[i] = f === '\\N' ? null : f.includes('\\') ? unescapeCopyText(f) : f;
  }
  return out;
}

const SIMPLE: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** Undoes COPY's backslash escapes (`\\`, `\t`, `\n`, …, octal `\123`, hex `\x41`). */
export function unescapeCopyText(f: string): string {
  let out = '';
  let i = 0;
  while (i < f.length) {
    const c = f[i] as string;
    if (c !== '\\' || i + 1 >= f.length) {
      out += c;
      i++;
      continue;
    }
    const n = f[i + 1] as string;
    const simple = SIMPLE[n];
    if (simple !== undefined) {
      out += simple;
      i += 2;
    } else if (n >= '0' && n <= '7') {
      let j = i + 1;
      while (j < f.length && j < i + 4 && (f[j] as string) >= '0' && (f[j] as string) <= '7') j++;
      out += String.fromCharCode(Number.parseInt(f.slice(i + 1, j), 8));
      i = j;
    } else if (n === 'x' && /[0-9a-fA-F]/.test(f[i + 2] ?? '')) {
      let j = i + 2;
      while (j < f.length && j < i + 4 && /[0-9a-fA-F]/.test(f[j] as string)) j++;
      out += String.fromCharCode(Number.parseInt(f.slice(i + 2, j), 16));
      i = j;
    } else {
      out += n;
      i += 2;
    }
  }
  return out;
}

/** Query results as a readable text table (pure). */

/** A cell as text: null as `NULL`, objects and arrays as JSON, strings as they are. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

const NUMERIC = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/**
 * Columns from the first row's keys (and any later ones), numbers right-aligned, cells longer
 * than `maxWidth` cut with `…`, newlines shown as `⏎`; ends with the row count.
 */
export function formatTable(rows: readonly Record<string, unknown>[], maxWidth = 60): string {
  if (rows.length === 0) return '(0 rows)\n';
  const columns: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  const cut = (s: string) => {
    const one = s.replaceAll('\n', '⏎');
    return one.length > maxWidth ? `${one.slice(0, maxWidth - 1)}…` : one;
  };
  const cells = rows.map((r) => columns.map((c) => cut(cellText(r[c]))));
  const numeric = columns.map((_c, i) =>
    cells.every((row) => NUMERIC.test(row[i] as string) || row[i] === 'NULL'),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (vals: string[], header = false) =>
    vals
      .map((v, i) =>
        numeric[i] && !header ? v.padStart(widths[i] as number) : v.padEnd(widths[i] as number),
      )
      .join(' │ ')
      .trimEnd();
  const out = [
    line(columns, true),
    widths.map((w) => '─'.repeat(w)).join('─┼─'),
    ...cells.map((r) => line(r)),
  ];
  return `${out.join('\n')}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
}

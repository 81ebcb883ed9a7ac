/**
 * The one line that says why a service exited, from what it logged: the last JSON log line at
 * level error (its `msg` with the error's code and message, compactly), or else the last line
 * that is not noise (a stack frame, Node's version footer). Pure: it gets the log text.
 */

const MAX = 300;

export function lastErrorLine(log: string, max = MAX): string {
  const lines = log.split('\n').map((l) => l.trimEnd());
  for (let i = lines.length - 1; i >= 0; i--) {
    const json = parseJsonLine(lines[i] as string);
    if (json && json.level === 'error') return clip(describeJsonError(json), max);
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i] as string;
    if (l.trim() !== '' && !isNoise(l)) return clip(l.trim(), max);
  }
  return '';
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `msg: CODE: message (cause: …) [code X]` from a JSON log line. */
function describeJsonError(j: Record<string, unknown>): string {
  const parts = [typeof j.msg === 'string' ? j.msg : 'error'];
  const err = describeErr(j.err ?? j.error);
  if (err) parts.push(err);
  let s = parts.join(': ');
  if (j.code !== undefined && j.code !== null && !s.includes(String(j.code)))
    s += ` [code ${String(j.code)}]`;
  return s;
}

function describeErr(err: unknown): string {
  if (err === undefined || err === null) return '';
  if (typeof err === 'string') return firstLine(err);
  if (typeof err !== 'object') return String(err);
  const e = err as Record<string, unknown>;
  const head = [e.code, e.message ?? e.name]
    .filter((x) => x !== undefined && x !== null && x !== '')
    .map((x) => firstLine(String(x)))
    .join(': ');
  const cause = typeof e.cause === 'string' && e.cause !== '' ? ` (cause: ${firstLine(e.cause)})` : '';
  return `${head || firstLine(JSON.stringify(err))}${cause}`;
}

function isNoise(line: string): boolean {
  return /^\s+at\s/.test(line) || /^Node\.js v\d/.test(line) || /^\s*\^+\s*$/.test(line);
}

const firstLine = (s: string): string => s.split('\n')[0]?.trim() ?? '';

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

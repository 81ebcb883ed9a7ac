/**
 * Embedded ClickHouse (chdb): the table shape the sink writes
 * (`ReplacingMergeTree(_version, _is_deleted)` keyed by the primary key), durability across
 * sessions, and who may open a data directory: any number of Sessions in one process, one
 * process at a time. Needs no server; uses a fresh folder under `localEndpoints().chdbDir`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { drainPending, Session } from 'chdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../src/endpoints.ts';

const execFileP = promisify(execFile);
const { chdbDir } = localEndpoints();

interface Row {
  id: number;
  name: string;
  _version: number;
}

/** Sync queries return text; JSONEachRow gives one JSON object per line. */
function rows<T>(session: Session, sql: string): T[] {
  return session
    .query(sql, 'JSONEachRow')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/**
 * Another Node process that opens `dir` and reads the table: prints one JSON line, either
 * the rows or the error it got. stderr is returned too (the engine writes the cause there).
 */
async function openFromAnotherProcess(
  dir: string,
): Promise<{ result: Record<string, unknown>; stderr: string }> {
  const script = `
    import { Session } from 'chdb';
    try {
      const s = new Session(${JSON.stringify(dir)});
      const out = s.query('SELECT id FROM customers FINAL ORDER BY id', 'JSONEachRow');
      s.close();
      console.log(JSON.stringify({ ok: true, ids: out.trim().split('\\n').map((l) => JSON.parse(l).id) }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, code: e.code, name: e.name, message: e.message }));
    }`;
  const { stdout, stderr } = await execFileP(process.execPath, ['--input-type=module', '-e', script], {
    cwd: resolve(import.meta.dirname, '../..'), // resolves `chdb` from this workspace
    timeout: 30_000,
  });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return { result: JSON.parse(last) as Record<string, unknown>, stderr };
}

describe('chdb (embedded ClickHouse engine)', () => {
  let dir: string;

  beforeAll(() => {
    mkdirSync(chdbDir, { recursive: true });
    dir = mkdtempSync(join(chdbDir, 'it-'));
  });

  afterAll(async () => {
    await drainPending();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps only the latest non-deleted version per key with ReplacingMergeTree FINAL', () => {
    const s = new Session(dir);
    try {
      expect(s.query('SELECT version()', 'TabSeparated').trim()).toMatch(/^\d+\.\d+/);
      s.query(`CREATE TABLE customers (
                 id UInt32, name String, _version UInt64, _is_deleted UInt8
               ) ENGINE = ReplacingMergeTree(_version, _is_deleted) ORDER BY id`);
      // Separate inserts make separate parts, as a sink's batches would: FINAL merges at read time.
      s.query(`INSERT INTO customers VALUES (1, 'ann', 10, 0), (2, 'bob', 11, 0), (3, 'cid', 12, 0)`);
      s.query(`INSERT INTO customers VALUES (1, 'ann v2', 20, 0), (2, 'bob', 21, 1), (4, 'dee', 22, 0)`);
      // A late, older version of key 1 (a replay) must not win over version 20.
      s.query(`INSERT INTO customers VALUES (1, 'ann v0', 5, 0), (3, 'cid v2', 30, 0)`);
      s.query(`INSERT INTO customers VALUES (4, 'dee', 40, 1), (4, 'dee again', 41, 0)`);

      expect(rows<Row>(s, 'SELECT id, name, _version FROM customers FINAL ORDER BY id')).toEqual([
        { id: 1, name: 'ann v2', _version: 20 },
        { id: 3, name: 'cid v2', _version: 30 },
        { id: 4, name: 'dee again', _version: 41 },
      ]);
      // Without FINAL the unmerged versions are still visible: readers must use FINAL.
      const raw = rows<{ n: number }>(s, 'SELECT count() AS n FROM customers');
      expect(raw[0]?.n).toBeGreaterThan(3);
    } finally {
      s.close();
    }
  });

  it('keeps the data after the session is closed and a new one opens the same directory', () => {
    const s = new Session(dir);
    try {
      expect(rows<Row>(s, 'SELECT id, name, _version FROM customers FINAL ORDER BY id')).toEqual([
        { id: 1, name: 'ann v2', _version: 20 },
        { id: 3, name: 'cid v2', _version: 30 },
        { id: 4, name: 'dee again', _version: 41 },
      ]);
    } finally {
      s.close();
    }
  });

  it('lets two Sessions of one process share the directory, but refuses a second directory', () => {
    const a = new Session(dir);
    const b = new Session(dir);
    try {
      b.query(`INSERT INTO customers VALUES (5, 'eve', 50, 0)`);
      expect(rows<{ id: number }>(a, 'SELECT id FROM customers FINAL WHERE id = 5')).toEqual([{ id: 5 }]);

      const other = join(chdbDir, `${process.pid}-other`);
      expect(() => new Session(other)).toThrow(/only one active data directory per process/);

      // Closing one Session leaves the other one working.
      b.close();
      // 64-bit integers come back as JSON numbers (current engines no longer quote them).
      expect(rows<{ n: number }>(a, 'SELECT count() AS n FROM customers FINAL')).toEqual([{ n: 4 }]);
    } finally {
      b.close();
      a.close();
    }
  });

  it('refuses a second process while the directory is open, and lets it in once closed', async () => {
    await drainPending();
    const s = new Session(dir);
    let busy: Awaited<ReturnType<typeof openFromAnotherProcess>>;
    try {
      busy = await openFromAnotherProcess(dir);
    } finally {
      s.close();
    }
    expect(busy.result).toMatchObject({ ok: false, code: 'CHDB_CONNECTION' });
    expect(busy.result.message).toMatch(/Failed to create connection/);
    // The thrown error does not say why; the engine writes the cause to stderr.
    expect(busy.stderr).toMatch(/Cannot lock file .*status\. Another server instance in same directory/);

    const free = await openFromAnotherProcess(dir);
    expect(free.result).toEqual({ ok: true, ids: [1, 3, 4, 5] });
  });
});

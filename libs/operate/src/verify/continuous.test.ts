import { describe, expect, it } from 'vitest';
import { continuousRunLine, persistentDifferences } from './continuous.ts';
import type { TableReport, VerifyReport } from './report.ts';

const run = (ranges: [number, number][] | null, differing = 0): TableReport => ({
  source: 's',
  table: 'public.t',
  clickhouseTable: 'c',
  match: differing === 0,
  differing,
  ...(ranges
    ? {
        repair: {
          key: 'id',
          ranges: ranges.map(([lo, hi]) => ({ lo: String(lo), hi: String(hi) })),
          onlyInClickHouse: [],
        },
      }
    : {}),
});

describe('continuous verification', () => {
  it('counts only the keys that differ in two runs in a row', () => {
    // A row changed after the first run's snapshot (7) differs once; 3 and 40–41 stay damaged.
    const first = run(
      [
        [3, 3],
        [7, 7],
        [40, 41],
      ],
      4,
    );
    const second = run(
      [
        [3, 3],
        [12, 12],
        [40, 42],
      ],
      5,
    );
    expect(persistentDifferences(first, second)).toBe(3);
    expect(persistentDifferences(undefined, second)).toBe(0);
    expect(persistentDifferences(second, run([], 0))).toBe(0);
  });

  it('falls back to the smaller count for tables compared whole', () => {
    expect(persistentDifferences(run(null, 4), run(null, 2))).toBe(2);
  });

  it('counts MongoDB _ids that differ in two runs in a row', () => {
    const mongo = (keys: string[]): TableReport => ({
      source: 'm',
      table: 'db.c',
      clickhouseTable: 'c',
      match: keys.length === 0,
      differing: keys.length,
      ...(keys.length > 0 ? { repair: { key: '_id', ranges: [], keys, onlyInClickHouse: [] } } : {}),
    });
    expect(persistentDifferences(mongo(['{"$oid":"a"}', '"x"']), mongo(['"x"', '"y"']))).toBe(1);
  });

  it('calls a run FAILED only for differences seen twice in a row or problems, and names the tables', () => {
    const table = (name: string, match: boolean): TableReport => ({
      source: 's',
      table: name,
      clickhouseTable: `c_${name}`,
      match,
    });
    const report = (tables: TableReport[], problems: string[] = []): VerifyReport => ({
      ok: tables.every((t) => t.match) && problems.length === 0,
      config: 'p.yaml',
      elapsedMs: 1_900,
      attempts: 1,
      sinkDrained: false,
      sources: [],
      tables,
      problems,
      repairs: [],
    });
    const lasting = (entries: [string, number][]) => new Map(entries.map(([t, n]) => [`s\u0000${t}`, n]));
    const tables = [table('public.a', true), table('public.b', false), table('public.c', false)];
    expect(continuousRunLine(1, report([table('public.a', true)]), lasting([]))).toBe(
      'verify: run 1: OK — 1 of 1 table(s) match (1.9 s)',
    );
    // Changed under the run: not a failure yet, named so that the next run can be watched.
    expect(continuousRunLine(2, report(tables), lasting([]))).toBe(
      'verify: run 2: CHECKING — 1 of 3 table(s) match; differing in this run only, compared again next run (rows changed after the snapshot, or new damage): public.b, public.c (1.9 s)',
    );
    expect(continuousRunLine(3, report(tables), lasting([['public.c', 3]]))).toBe(
      'verify: run 3: FAILED — 1 of 3 table(s) match; differing in two runs in a row: public.c (3 row(s)); differing in this run only, compared again next run (rows changed after the snapshot, or new damage): public.b (1.9 s)',
    );
    expect(continuousRunLine(4, report([], ['ClickHouse did not answer']), lasting([]))).toBe(
      'verify: run 4: FAILED — 0 of 0 table(s) match; problems: ClickHouse did not answer (1.9 s)',
    );
  });
});

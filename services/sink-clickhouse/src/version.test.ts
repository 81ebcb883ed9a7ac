import { postgresChangeId } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { debeziumPostgresVersion, offsetVersion, postgresVersion } from './version.ts';

const streamed = (commitLsn: string, index: number) => ({
  changeId: postgresChangeId({ commitLsn, index }),
  op: 'u',
  source: { commitLsn, lsn: commitLsn },
});

describe('postgresVersion', () => {
  it('orders changes by commit LSN, then index, and is the same on every call', () => {
    const a = postgresVersion(streamed('16/B374D848', 0));
    const b = postgresVersion(streamed('16/B374D848', 1));
    const c = postgresVersion(streamed('16/B374D900', 0));
    expect(a < b && b < c).toBe(true);
    expect(postgresVersion(streamed('16/B374D848', 1))).toBe(b);
  });

  it('puts a snapshot read below every change streamed after the snapshot, including one at the same LSN', () => {
    const snap = postgresVersion({
      changeId: 'snap-abc',
      op: 'r',
      source: { commitLsn: '16/B374D848', snapshot: 'true' },
    });
    expect(snap < postgresVersion(streamed('16/B374D848', 0))).toBe(true);
    expect(snap > postgresVersion(streamed('16/B374D840', 7))).toBe(true);
  });

  it('refuses a change with no usable position', () => {
    expect(() => postgresVersion({ changeId: 'whatever', op: 'u', source: {} })).toThrow(
      /no usable position/,
    );
  });
});

describe('offsetVersion', () => {
  it('is never 0, so the record at offset 0 is above "no truncation" in t_current', () => {
    expect(offsetVersion('0')).toBe(1n);
    expect(offsetVersion('41')).toBeGreaterThan(offsetVersion('40'));
  });
});

describe('debeziumPostgresVersion', () => {
  const change = (lsn: number, op = 'u', snapshot = 'false', lastCommit?: number) => ({
    op,
    source: {
      lsn,
      snapshot,
      sequence: JSON.stringify([lastCommit === undefined ? null : String(lastCommit), String(lsn)]),
    },
  });

  it('orders a key’s streamed changes by position, the same on every call', () => {
    expect(
      debeziumPostgresVersion(change(100, 'u', 'false', 50)) <
        debeziumPostgresVersion(change(101, 'u', 'false', 50)),
    ).toBe(true);
    expect(debeziumPostgresVersion(change(100))).toBe(debeziumPostgresVersion(change(100)));
    // Two changes of one transaction written before the last commit the connector saw: by LSN.
    expect(
      debeziumPostgresVersion(change(95, 'u', 'false', 100)) <
        debeziumPostgresVersion(change(97, 'u', 'false', 100)),
    ).toBe(true);
  });

  it('puts a snapshot read below a change committed after the snapshot, even one written before its point', () => {
    const snapshot = debeziumPostgresVersion(change(1000, 'r', 'last'));
    // Written at LSN 900, its transaction committed after the snapshot (last commit seen: 1000).
    expect(snapshot < debeziumPostgresVersion(change(900, 'u', 'false', 1000))).toBe(true);
    expect(snapshot < debeziumPostgresVersion(change(1200, 'd', 'false', 1100))).toBe(true);
  });

  it('lets a snapshot taken again later win over the changes streamed before it', () => {
    const streamed = debeziumPostgresVersion(change(1500, 'u', 'false', 1400));
    expect(debeziumPostgresVersion(change(2000, 'r', 'true')) > streamed).toBe(true);
  });

  it('orders incremental snapshot reads with the stream, under a change at the same position', () => {
    const read = debeziumPostgresVersion(change(5000, 'r', 'incremental', 4000));
    expect(read > debeziumPostgresVersion(change(4999, 'u', 'false', 4000))).toBe(true);
    expect(read < debeziumPostgresVersion(change(5000, 'u', 'false', 4000))).toBe(true);
  });

  it('refuses a change without source.lsn, naming what it needs', () => {
    expect(() => debeziumPostgresVersion({ op: 'u', source: {} })).toThrow(/without source\.lsn/);
  });
});

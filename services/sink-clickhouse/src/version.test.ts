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
  const change = (lsn: number, op = 'u', snapshot = 'false') => ({ op, source: { lsn, snapshot } });

  it('orders streamed changes by source.lsn, the same on every call', () => {
    expect(debeziumPostgresVersion(change(100)) < debeziumPostgresVersion(change(101))).toBe(true);
    expect(debeziumPostgresVersion(change(100))).toBe(debeziumPostgresVersion(change(100)));
  });

  it('puts initial snapshot reads below every streamed change, even one written before the snapshot point', () => {
    const snapshot = debeziumPostgresVersion(change(1000, 'r', 'last'));
    // A transaction that wrote at LSN 900 and committed after the snapshot read its row at 1000.
    expect(snapshot < debeziumPostgresVersion(change(900, 'u'))).toBe(true);
    expect(snapshot < debeziumPostgresVersion(change(900, 'd'))).toBe(true);
  });

  it('orders incremental snapshot reads with the stream, under a change at the same position', () => {
    const read = debeziumPostgresVersion(change(5000, 'r', 'incremental'));
    expect(read > debeziumPostgresVersion(change(4999))).toBe(true);
    expect(read < debeziumPostgresVersion(change(5000))).toBe(true);
  });

  it('refuses a change without source.lsn, naming what it needs', () => {
    expect(() => debeziumPostgresVersion({ op: 'u', source: {} })).toThrow(/without source\.lsn/);
  });
});

import { postgresChangeId } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { offsetVersion, postgresVersion } from './version.ts';

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

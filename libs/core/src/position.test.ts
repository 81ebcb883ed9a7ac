import { describe, expect, it } from 'vitest';
import {
  comparePostgresPositions,
  formatLsn,
  lsnHex,
  type PostgresPosition,
  parseChangeId,
  parseLsn,
  postgresChangeId,
  postgresChangeIdAt,
  postgresVersionOf,
  snapshotChangeId,
} from './position.ts';

const pos = (commitLsn: string, index: number): PostgresPosition => ({
  kind: 'postgres',
  commitLsn,
  lsn: commitLsn,
  index,
  txId: 1,
  tsUsec: 0,
  snapshot: false,
});

describe('LSN text', () => {
  it('round-trips through bigint, including the extremes', () => {
    for (const text of ['0/0', '0/1', '16/B374D848', 'FFFFFFFF/FFFFFFFF', '1/0']) {
      expect(formatLsn(parseLsn(text))).toBe(text);
    }
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(parseLsn('16/b374d848')).toBe(parseLsn('16/B374D848'));
  });

  it('rejects text that is not an LSN with a message saying what one looks like', () => {
    expect(() => parseLsn('16B374D848')).toThrow(/expected two hex numbers like 16\/B374D848/);
    expect(() => parseLsn('1/123456789')).toThrow(RangeError);
    expect(() => formatLsn(-1n)).toThrow(RangeError);
  });
});

describe('change ids', () => {
  it('are the same for the same position on every replay and differ between positions', () => {
    expect(postgresChangeId(pos('16/B374D848', 3))).toBe('00000016b374d848-00000003');
    expect(postgresChangeId(pos('16/B374D848', 3))).toBe(postgresChangeId(pos('16/B374D848', 3)));
    expect(postgresChangeId(pos('16/B374D848', 4))).not.toBe(postgresChangeId(pos('16/B374D848', 3)));
  });

  it('sort in the order the source committed the changes', () => {
    const positions = [
      pos('0/FF', 0),
      pos('1/0', 2),
      pos('0/100', 7),
      pos('1/0', 10),
      pos('A/0', 0),
      pos('0/FF', 1),
    ];
    const byPosition = [...positions].sort(comparePostgresPositions).map(postgresChangeId);
    const byId = positions.map(postgresChangeId).sort();
    expect(byId).toEqual(byPosition);
  });

  it('of snapshot rows do not depend on the key object’s field order', () => {
    const a = snapshotChangeId('0/16B3748', 'public.orders', { tenant: 1, id: 42 });
    const b = snapshotChangeId('0/16B3748', 'public.orders', { id: 42, tenant: 1 });
    expect(a).toBe(b);
    expect(snapshotChangeId('0/16B3749', 'public.orders', { id: 42, tenant: 1 })).not.toBe(a);
    expect(snapshotChangeId('0/16B3748', 'public.items', { id: 42, tenant: 1 })).not.toBe(a);
  });
});

describe('change ids', () => {
  it('parses back what postgresChangeId writes', () => {
    const id = postgresChangeId({ commitLsn: '16/B374D848', index: 3 });
    expect(parseChangeId(id)).toEqual({ kind: 'postgres', commitLsn: 0x16b374d848n, index: 3 });
    expect(postgresChangeIdAt(lsnHex(0x16b374d848n), 3)).toBe(id);
    expect(parseChangeId(snapshotChangeId('s1', 'public.t', { id: 1 }))).toEqual({ kind: 'snapshot' });
    expect(parseChangeId('826000000012345678')).toEqual({ kind: 'opaque' });
  });

  it('orders a key’s changes: snapshot read, then streamed changes by commit and index', () => {
    const snap = postgresVersionOf({ changeId: 'snap-x', op: 'r', source: { commitLsn: '0/100' } });
    const first = postgresVersionOf({
      changeId: postgresChangeId({ commitLsn: '0/100', index: 0 }),
      op: 'u',
      source: {},
    });
    const second = postgresVersionOf({
      changeId: postgresChangeId({ commitLsn: '0/100', index: 1 }),
      op: 'u',
      source: {},
    });
    const later = postgresVersionOf({
      changeId: postgresChangeId({ commitLsn: '0/200', index: 0 }),
      op: 'd',
      source: {},
    });
    expect(snap < first && first < second && second < later).toBe(true);
  });

  it('refuses a streamed change without a position, naming it', () => {
    expect(() => postgresVersionOf({ changeId: 'abc', op: 'u', source: {} })).toThrow(
      /change abc \(op u\) carries no usable position/,
    );
  });
});

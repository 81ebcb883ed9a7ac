import { formatLsn, postgresChangeId } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import type { CapturedTable } from '../relations.ts';
import { commitLsnText, deadLetterValues, recordTooLarge, streamChangeId } from './change-records.ts';

describe('streamChangeId', () => {
  it('is postgresChangeId of the same commit LSN and index', () => {
    for (const lsn of [0n, 0x16b374d848n, 0xffff_ffff_ffff_ffffn, 0x1_0000_0000n]) {
      for (const index of [0, 1, 255, 0x7fff_ffff]) {
        expect(streamChangeId(lsn, index)).toBe(postgresChangeId({ commitLsn: formatLsn(lsn), index }));
      }
      expect(commitLsnText(lsn)).toBe(formatLsn(lsn));
    }
  });
});

describe('records over maxRecordBytes', () => {
  const table = { schema: 'public', table: 'docs' } as unknown as CapturedTable;

  it('are refused naming the table, the key, the size and the limit', () => {
    const err = recordTooLarge(table, { id: 7n, tag: 'x' }, 9_000_000, 8_388_608);
    expect(err.code).toBe('POISON_RECORD');
    expect(err.message).toMatch(
      /^public\.docs: the change of key \{"id":"7","tag":"x"\} is 9000000 bytes as Avro, more than maxRecordBytes \(8388608\); it is dead-lettered/,
    );
    expect(recordTooLarge(table, null, 2, 1).message).toContain('key (none: the table has no key)');
  });

  it('leave their large values out of the dead letter when they would not fit', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    const big = enc('v'.repeat(5_000));
    expect(deadLetterValues([enc('1'), big, null], 1_000_000)).toEqual([
      Buffer.from('1').toString('base64'),
      Buffer.from(big).toString('base64'),
      null,
    ]);
    expect(deadLetterValues([enc('1'), big, null], 10_000)).toEqual([
      Buffer.from('1').toString('base64'),
      '(omitted: 5000 bytes)',
      null,
    ]);
    expect(deadLetterValues(null, 10)).toBeNull();
  });
});

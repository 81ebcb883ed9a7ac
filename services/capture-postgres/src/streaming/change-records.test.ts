import { formatLsn, postgresChangeId } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { commitLsnText, streamChangeId } from './change-records.ts';

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

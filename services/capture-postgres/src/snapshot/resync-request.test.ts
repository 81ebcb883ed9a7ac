import type { TopicSchemas } from '@cdc/capture';
import { noopLogger } from '@cdc/core';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { TableTransforms } from '../streaming/table-transforms.ts';
import { type IncrementalOptions, IncrementalSnapshot, parseResync, type ResyncJob } from './incremental.ts';

/** Queueing and restoring touch no database: the client is never used here. */
const options = (o: Partial<IncrementalOptions>): IncrementalOptions => ({
  name: 'src',
  db: 'db',
  prefix: 'p',
  client: {} as pg.ClientBase,
  topics: {} as TopicSchemas,
  chunkRows: 100,
  pending: [],
  state: null,
  logger: noopLogger,
  transforms: TableTransforms.none('p', noopLogger),
  ...o,
});
const job = (from: string, to: string): ResyncJob => ({
  table: 'public.t',
  from: [from],
  to: [to],
  absent: [],
});

describe('a resync request', () => {
  it('gives one job per key range, in the public schema when none is named', () => {
    const text = `resync:${JSON.stringify({
      table: 'orders',
      ranges: [
        { from: ['5'], to: ['9'], absent: [['7']] },
        { from: null, to: ['2'] },
      ],
    })}`;
    expect(parseResync(text)).toEqual([
      { table: 'public.orders', from: ['5'], to: ['9'], absent: [['7']] },
      { table: 'public.orders', from: null, to: ['2'], absent: [] },
    ]);
  });

  it('refuses a request without a table or ranges, or with a key that is not text values', () => {
    expect(() => parseResync('resync:{"ranges":[]}')).toThrow(/needs "table" and "ranges"/);
    expect(() => parseResync('resync:{"table":"t","ranges":[{"from":[5]}]}')).toThrow(/bad key/);
    expect(() => parseResync('resync:not json')).toThrow();
  });
});

describe('resync jobs and the stored position', () => {
  it('queues the jobs of a request met in the stream, to be stored with the position', () => {
    const inc = new IncrementalSnapshot(options({}));
    expect(inc.idle).toBe(false);
    inc.request(
      Buffer.from(
        `resync:${JSON.stringify({
          table: 'public.t',
          ranges: [
            { from: ['1'], to: ['1'] },
            { from: ['9'], to: ['12'] },
          ],
        })}`,
      ),
    );
    expect(inc.idle).toBe(true);
    expect(inc.queued).toEqual([job('1', '1'), job('9', '12')]);
    // A malformed request is ignored (with a warning), not fatal.
    inc.request(Buffer.from('resync:{'));
    expect(inc.queued).toHaveLength(2);
  });

  it('after a restart resumes the job under way from its last key, then the queued ones', () => {
    const state = { id: 'resync-1-public.t', table: 'public.t', lastKey: ['6'], resync: job('1', '50') };
    const inc = new IncrementalSnapshot(options({ state, resync: [job('60', '70')] }));
    expect(inc.progress).toEqual(state);
    expect(inc.queued).toEqual([job('60', '70')]);
    expect(inc.idle).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { compareTimes, includes, justAfter, operationTimeOf, splitNamespace } from './position.ts';
import { historyReaches } from './source-server.ts';
import { deploymentMatch } from './streaming/change-streams.ts';

describe('include lists', () => {
  it('takes databases and collections, never the system databases', () => {
    const inc = includes(['shop', 'crm.people']);
    expect(inc('shop', 'orders')).toBe(true);
    expect(inc('crm', 'people')).toBe(true);
    expect(inc('crm', 'other')).toBe(false);
    expect(includes([])('admin', 'x')).toBe(false);
    expect(includes([])('app', 'system.views')).toBe(false);
    expect(includes([])('app', 'x')).toBe(true);
  });

  it('matches the same namespaces on the server side', () => {
    expect(deploymentMatch(['shop', 'crm.people'])).toEqual({
      $or: [{ 'ns.db': 'shop' }, { 'ns.db': 'crm', 'ns.coll': 'people' }],
    });
  });

  it('splits a namespace at its first dot (collections may hold dots)', () => {
    expect(splitNamespace('db.a.b')).toEqual({ db: 'db', collection: 'a.b' });
  });
});

describe('operation times', () => {
  it('reads driver timestamps and orders them', () => {
    expect(operationTimeOf({ high: 5, low: 7 })).toEqual({ t: 5, i: 7 });
    expect(operationTimeOf(null)).toBeNull();
    expect(compareTimes({ t: 1, i: 9 }, { t: 2, i: 0 })).toBeLessThan(0);
    expect(justAfter({ t: 1, i: 0xffff_ffff })).toEqual({ t: 2, i: 0 });
  });

  it('says the history is lost only when the oldest oplog entry is newer than the stored point', () => {
    const point = { token: 'x', startAt: null, clusterTime: { t: 10, i: 1 } };
    expect(historyReaches(point, { t: 10, i: 1 })).toBe(true);
    expect(historyReaches(point, { t: 11, i: 0 })).toBe(false);
    expect(historyReaches(point, null)).toBe(true);
    expect(historyReaches({ ...point, clusterTime: null }, { t: 99, i: 0 })).toBe(true);
  });
});

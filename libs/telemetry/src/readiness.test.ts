import { describe, expect, it } from 'vitest';
import { Readiness } from './readiness.ts';

describe('Readiness', () => {
  it('is ready when every check passes, and names the ones that do not', async () => {
    const r = new Readiness();
    const kafka = r.flag('kafka');
    r.register('slot', () => ({ ready: true, detail: 'active' }));
    expect(await r.evaluate()).toEqual({
      ready: false,
      checks: { kafka: { ready: false, detail: 'starting' }, slot: { ready: true, detail: 'active' } },
    });
    kafka.set(true);
    expect((await r.evaluate()).ready).toBe(true);
    kafka.set(false, 'broker unreachable');
    expect((await r.evaluate()).checks.kafka).toEqual({ ready: false, detail: 'broker unreachable' });
  });

  it('counts a check that throws or hangs as not ready', async () => {
    const r = new Readiness({ checkTimeoutMs: 50 });
    r.register('throws', () => {
      throw new Error('connection refused');
    });
    r.register('hangs', () => new Promise<boolean>(() => {}));
    r.register('async', async () => true);
    const report = await r.evaluate();
    expect(report.ready).toBe(false);
    expect(report.checks.throws).toEqual({ ready: false, detail: 'connection refused' });
    expect(report.checks.hangs).toEqual({ ready: false, detail: 'no answer within 50 ms' });
    expect(report.checks.async).toEqual({ ready: true });
  });

  it('reports not ready once stopping, whatever the checks say', async () => {
    const r = new Readiness();
    r.register('ok', () => true);
    expect((await r.evaluate()).ready).toBe(true);
    r.stopping();
    expect(await r.evaluate()).toMatchObject({ ready: false, checks: { shutdown: { ready: false } } });
  });

  it('lists what needs an operator without making the service unready', async () => {
    const r = new Readiness();
    r.register('ok', () => true);
    r.attention('table shop.orders', 'stopped: column type changed; run cdc rebuild');
    r.attention('table shop.items', 'stopped: key changed');
    expect(await r.evaluate()).toEqual({
      ready: true,
      checks: { ok: { ready: true } },
      attention: {
        'table shop.orders': 'stopped: column type changed; run cdc rebuild',
        'table shop.items': 'stopped: key changed',
      },
    });
    r.attention('table shop.orders', undefined);
    r.attention('table shop.items', undefined);
    expect(await r.evaluate()).toEqual({ ready: true, checks: { ok: { ready: true } } });
  });
});

import { createJsonLogger, ManualClock } from '@cdc/core';
import { TableTransformSchema } from '@cdc/pipeline';
import { describe, expect, it } from 'vitest';
import { type QualityObserver, RowGate } from './row-gate.ts';
import { compileTableTransform } from './table-transform.ts';

const row = {
  type: 'record' as const,
  name: 'users',
  fields: [
    { name: 'id', type: 'long' as const },
    { name: 'email', type: ['null' as const, 'string' as const], default: null },
    { name: 'age', type: ['null' as const, 'int' as const], default: null },
  ],
};
const columns = [
  { name: 'id', field: 'id', isKey: true },
  { name: 'email', field: 'email', isKey: false },
  { name: 'age', field: 'age', isKey: false },
];

function setup(config: unknown) {
  const events: string[] = [];
  const observer: QualityObserver = {
    outcome: (t, o) => events.push(`${t} ${o}`),
    violation: (t, r, a) => events.push(`${t} violation ${r} ${a}`),
    stopped: (t, m) => events.push(`${t} stopped ${m === null ? 'no more' : m.split(':')[0]}`),
    stale: (t, m) => events.push(`${t} stale ${m === null ? 'no more' : m}`),
  };
  const t = compileTableTransform(
    'public.users',
    { key: 'public.users', transform: TableTransformSchema.parse(config) },
    row,
    [row.fields[0]!],
    columns,
    { where: 'sources.postgres[shop].tables', maskSalt: 'sixteen-chars-salt' },
  );
  const clock = new ManualClock(0);
  const gate = new RowGate(observer, createJsonLogger({ level: 'error' }), undefined, clock);
  gate.watch(t);
  /** Moves the capture's clock to `min` minutes after the start. */
  const at = (min: number) => clock.advance(min * 60_000 - clock.now());
  return { t, gate, events, at };
}

describe('the row gate', () => {
  it('quarantines a broken row with the masked value hidden; a stop rule holds every later row of its table until resumed', () => {
    const { t, gate, events } = setup({
      columns: { mask: { email: 'hash' } },
      quality: [
        { rule: 'regex', column: 'email', pattern: '@', action: 'quarantine' },
        { rule: 'range', column: 'age', min: 0, action: 'stop' },
      ],
    });
    expect(gate.apply(t, { id: 1n, email: 'a@b', age: 1 }, { id: 1n }).kind).toBe('write');
    const q = gate.apply(t, { id: 2n, email: 'no-at', age: 1 }, { id: 2n });
    expect(q).toMatchObject({ kind: 'quarantine', violations: [{ rule: 'regex:email', value: '(masked)' }] });
    expect(JSON.stringify(q, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('no-at');
    // A later change of that key that passes resolves its quarantine entry.
    expect(gate.apply(t, { id: 2n, email: 'fixed@b', age: 1 }, { id: 2n })).toMatchObject({
      kind: 'write',
      resolved: 'public.users {"id":"2"}',
    });
    expect(gate.apply(t, { id: 2n, email: 'again@b', age: 1 }, { id: 2n })).not.toHaveProperty('resolved');
    const stop = gate.apply(t, { id: 3n, email: 'c@d', age: -1 }, { id: 3n });
    expect(stop.kind === 'quarantine' && stop.reason).toContain(
      'public.users: quality rule range:age (action stop) broken by the row with key {"id":"3"}: age is -1, expected in [0, ∞]',
    );
    expect(gate.apply(t, { id: 4n, email: 'e@f', age: 5 }, { id: 4n }).kind).toBe('quarantine');
    gate.resume('public.users');
    expect(gate.apply(t, { id: 5n, email: 'g@h', age: 5 }, { id: 5n }).kind).toBe('write');
    expect(events).toEqual([
      'public.users passed',
      'public.users violation regex:email quarantine',
      'public.users quarantined',
      'public.users passed',
      'public.users passed',
      'public.users violation range:age stop',
      'public.users stopped public.users',
      'public.users quarantined',
      'public.users quarantined',
      'public.users stopped no more',
      'public.users passed',
    ]);
  });

  it('unique_within: a value seen on another key within the window breaks the rule; the same key, or after the window, does not', async () => {
    const { t, gate, at } = setup({
      quality: [{ rule: 'unique_within', column: 'email', window: '10m', action: 'quarantine' }],
    });
    expect(gate.apply(t, { id: 1n, email: 'a@b' }, { id: 1n }).kind).toBe('write');
    await at(1);
    expect(gate.apply(t, { id: 1n, email: 'a@b' }, { id: 1n }).kind).toBe('write');
    await at(2);
    const dup = gate.apply(t, { id: 2n, email: 'a@b' }, { id: 2n });
    expect(dup).toMatchObject({
      kind: 'quarantine',
      violations: [
        { rule: 'unique_within:email', expected: 'unique within 600 s (the row with key {"id":"1"} has it)' },
      ],
    });
    await at(12);
    expect(gate.apply(t, { id: 2n, email: 'a@b' }, { id: 2n }).kind).toBe('write');
  });

  it('freshness: a table without a change for longer than maxAge is reported once, until its next change', async () => {
    const { t, gate, events, at } = setup({ quality: [{ rule: 'freshness', maxAge: '30m' }] });
    await at(29);
    gate.checkFreshness();
    expect(events).toEqual([]);
    await at(31);
    gate.checkFreshness();
    await at(40);
    gate.checkFreshness();
    await at(41);
    gate.apply(t, { id: 1n, email: 'a@b' }, { id: 1n });
    expect(events).toEqual([
      'public.users violation freshness count',
      'public.users stale public.users: no change for 31.0 min, more than rule freshness allows (30 min); check the application writing it',
      'public.users stale no more',
      'public.users passed',
    ]);
  });
});

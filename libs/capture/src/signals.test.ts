import { describe, expect, it } from 'vitest';
import { parseSignal, signalRecord } from './signals.ts';

describe('signals', () => {
  it('are keyed by source, so one source’s commands keep their order', () => {
    const r = signalRecord({ type: 'pause', source: 'shop', table: 'public.orders', actor: 'ana' });
    expect(r.key).toBe('shop');
    expect(parseSignal(r.value)).toEqual(r.signal);
    expect(r.signal.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a malformed command, naming what is wrong', () => {
    expect(() => parseSignal('{"v":1,"id":"x","source":"s","table":"t","type":"drop"}')).toThrow(
      /unknown signal type "drop" \(one of pause, resume, resync\)/,
    );
    expect(() => parseSignal('{"type":"pause"}')).toThrow(/needs v: 1, id, source and table/);
    expect(() =>
      parseSignal('{"v":1,"id":"x","source":"s","table":"t","type":"resync","keys":["1"]}'),
    ).toThrow(/keys are a list of keys, each a list of text values/);
  });

  it("carry a resync's keys", () => {
    const r = signalRecord({
      type: 'resync',
      source: 's',
      table: 'db.c',
      actor: 'a',
      keys: [['{"$numberInt":"1"}']],
    });
    expect(parseSignal(r.value).keys).toEqual([['{"$numberInt":"1"}']]);
  });
});

import { describe, expect, it } from 'vitest';
import { deadLetterReporter } from './dead-letters.ts';
import { Readiness } from './readiness.ts';
import type { Telemetry } from './telemetry.ts';

describe('deadLetterReporter', () => {
  it('counts each dead letter by topic and reason and names the table, the total and the last reason', async () => {
    const added: [number, Record<string, string>][] = [];
    const readiness = new Readiness();
    const metrics = {
      deadLetters: { add: (n: number, labels: Record<string, string>) => added.push([n, labels]) },
    };
    const report = deadLetterReporter(
      { readiness, metrics: metrics as unknown as Telemetry['metrics'] },
      'shop.dead-letter',
    );
    report({
      subject: 'table public.orders',
      topic: 'shop.public.orders',
      reason: 'POISON_RECORD',
      message: 'bad utf-8',
    });
    report({
      subject: 'table public.orders',
      topic: 'shop.public.orders',
      reason: 'RECORD_TOO_LARGE',
      message: 'record of 70 MB over the limit of 64 MB\nstack',
    });
    expect(added).toEqual([
      [1, { topic: 'shop.public.orders', reason: 'POISON_RECORD' }],
      [1, { topic: 'shop.public.orders', reason: 'RECORD_TOO_LARGE' }],
    ]);
    const { ready, attention } = await readiness.evaluate();
    expect(ready).toBe(true);
    expect(attention).toEqual({
      'dead letters table public.orders':
        '2 record(s) sent to shop.dead-letter since start (each with its reason in its headers); last: RECORD_TOO_LARGE: record of 70 MB over the limit of 64 MB',
    });
  });
});

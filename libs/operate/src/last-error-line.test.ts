import { describe, expect, it } from 'vitest';
import { lastErrorLine } from './last-error-line.ts';

const json = (o: object) => JSON.stringify(o);

describe('lastErrorLine', () => {
  it('takes the last JSON line at level error, its msg with the error code and message', () => {
    const log = [
      json({ level: 'error', time: 't', msg: 'old failure', err: { message: 'earlier' } }),
      json({ level: 'info', time: 't', msg: 'processor starting' }),
      json({
        level: 'error',
        time: 't',
        msg: 'cannot join the group',
        err: {
          code: 'KAFKA_UNAVAILABLE',
          message: 'broker 127.0.0.1:9092 refused',
          retriable: true,
          context: {},
          cause: 'connect ECONNREFUSED',
          stack: 'CdcError: broker…\n    at x (y.js:1:1)',
        },
      }),
      json({ level: 'info', time: 't', msg: 'closing' }),
      '',
    ].join('\n');
    expect(lastErrorLine(log)).toBe(
      'cannot join the group: KAFKA_UNAVAILABLE: broker 127.0.0.1:9092 refused (cause: connect ECONNREFUSED)',
    );
  });

  it('keeps the first line of an error given as a stack string, and a top-level code', () => {
    const log = json({
      level: 'error',
      msg: 'processor failed',
      err: 'Error: The group coordinator is not available\n    at a (b.js:1:1)',
      code: 'E_COORD',
    });
    expect(lastErrorLine(log)).toBe(
      'processor failed: Error: The group coordinator is not available [code E_COORD]',
    );
  });

  it('falls back to the last line that is not a stack frame or the Node.js footer', () => {
    const crash = [
      '{"level":"info","msg":"up"}',
      'file:///x/main.js:3',
      "  throw new Error('boom');",
      '  ^',
      '',
      'Error: boom',
      '    at file:///x/main.js:3:9',
      '    at ModuleJob.run (node:internal/modules/esm/module_job:1:1)',
      '',
      'Node.js v24.21.0',
      '',
    ].join('\n');
    expect(lastErrorLine(crash)).toBe('Error: boom');
    expect(lastErrorLine('starting\nlistening on 8080\n\n')).toBe('listening on 8080');
    expect(lastErrorLine('')).toBe('');
  });

  it('cuts a long line to about 300 characters', () => {
    const line = lastErrorLine(json({ level: 'error', msg: 'x'.repeat(1_000) }));
    expect(line.length).toBe(300);
    expect(line.endsWith('…')).toBe(true);
  });
});

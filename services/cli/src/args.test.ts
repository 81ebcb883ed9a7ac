import { describe, expect, it } from 'vitest';
import { parseCommandLine, UsageError } from './args.ts';

describe('parseCommandLine', () => {
  it('reads a command with its config, options and positionals', () => {
    const a = parseCommandLine([
      'verify',
      '--config',
      'p.yaml',
      '--timeout',
      '30',
      '--source',
      'shop',
      '--json',
    ]);
    expect(a).toMatchObject({
      command: 'verify',
      config: 'p.yaml',
      timeoutMs: 30_000,
      sources: ['shop'],
      json: true,
    });
    expect(parseCommandLine(['run', 'sink-clickhouse', '-c', 'p.yaml']).positionals).toEqual([
      'sink-clickhouse',
    ]);
  });

  it('takes the config from CDC_CONFIG when no --config is given', () => {
    expect(parseCommandLine(['up'], { CDC_CONFIG: 'env.yaml' }).config).toBe('env.yaml');
  });

  it('reads the internal `supervise` command `up` starts, which needs a config too', () => {
    expect(parseCommandLine(['supervise', '--config', 'p.yaml', '--state-dir', 's'])).toMatchObject({
      command: 'supervise',
      config: 'p.yaml',
      stateDir: 's',
    });
    expect(() => parseCommandLine(['supervise'])).toThrow(/needs --config/);
  });

  it('passes everything after `schemas` to the schemas CLI untouched', () => {
    expect(parseCommandLine(['schemas', 'check', '--registry', 'http://r']).rest).toEqual([
      'check',
      '--registry',
      'http://r',
    ]);
  });

  it('refuses unknown commands and options, a missing config, a missing SQL and a bad timeout', () => {
    expect(() => parseCommandLine(['frob'])).toThrow(/unknown command "frob"; commands: run, up/);
    expect(() => parseCommandLine(['up', '--nope'])).toThrow(UsageError);
    expect(() => parseCommandLine(['up'])).toThrow(/needs --config/);
    expect(() => parseCommandLine(['query', '--config', 'p.yaml'])).toThrow(/cdc query "SQL"/);
    expect(() => parseCommandLine(['verify', '--config', 'p', '--timeout', 'soon'])).toThrow(
      /--timeout takes seconds/,
    );
  });

  it('shows help without a command', () => {
    expect(parseCommandLine([]).command).toBe('help');
    expect(parseCommandLine(['status', '--help']).command).toBe('help');
  });
  it('table takes an action, a source and a table', () => {
    expect(parseCommandLine(['table', 'pause', 'shop', 'public.orders']).positionals).toEqual([
      'pause',
      'shop',
      'public.orders',
    ]);
    expect(() => parseCommandLine(['table', 'drop', 'shop', 'public.orders'])).toThrow(
      /pause\|resume\|resync/,
    );
    expect(() => parseCommandLine(['table', 'pause', 'shop'])).toThrow(UsageError);
  });
});

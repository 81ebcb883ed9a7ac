import { describe, expect, it } from 'vitest';
import { splitSettings } from './reader.ts';

describe('queries to the sink read endpoint', () => {
  it('move a trailing SETTINGS clause to URL parameters', () => {
    expect(splitSettings("SELECT a FROM t WHERE b = 'SETTINGS' SETTINGS x_y = 1, z = 'q'")).toEqual({
      text: "SELECT a FROM t WHERE b = 'SETTINGS'",
      settings: { x_y: '1', z: 'q' },
    });
    expect(splitSettings('SELECT 1')).toEqual({ text: 'SELECT 1', settings: {} });
  });
});

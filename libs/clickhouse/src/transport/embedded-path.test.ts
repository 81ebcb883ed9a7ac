import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { usableDataDirectory } from './embedded-transport.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdc-embedded-path-'));

describe('the embedded ClickHouse path', () => {
  it('creates a missing directory, parents included', () => {
    usableDataDirectory(join(dir, 'a', 'b'));
    expect(existsSync(join(dir, 'a', 'b'))).toBe(true);
  });

  it('names a path that is a file, and the fix', () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    expect(() => usableDataDirectory(file)).toThrow(
      `clickhouse.embedded.path ${file} is a file, not a directory; point clickhouse.embedded.path at a directory`,
    );
    expect(() => usableDataDirectory(join(file, 'sub'))).toThrow(`cannot be created: ${file} is a file`);
  });

  it('fails at once where mkdir cannot create (no endless retry)', () => {
    const t0 = Date.now();
    expect(() => usableDataDirectory('/proc/cdc-embedded-path-test/clickhouse')).toThrow(
      /clickhouse\.embedded\.path \/proc\/cdc-embedded-path-test\/clickhouse cannot be created \(ENOENT/,
    );
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

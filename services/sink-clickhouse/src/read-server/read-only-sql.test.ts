import { describe, expect, it } from 'vitest';
import { checkReadOnly } from './read-only-sql.ts';

describe('checkReadOnly', () => {
  it.each([
    'SELECT 1',
    'select * from orders_current where id = 1',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    '(SELECT 1) UNION ALL (SELECT 2)',
    'SHOW TABLES',
    'DESCRIBE TABLE orders',
    'desc orders',
    'EXISTS TABLE orders',
    'EXPLAIN SELECT 1',
    "SELECT ';' AS semicolon, 'it''s', 'a\\'; DROP TABLE t; --'",
    'SELECT 1 -- trailing comment; DROP TABLE t',
    'SELECT /* ; */ 1',
  ])('runs %s', (sql) => {
    expect(checkReadOnly(sql)).not.toHaveProperty('code');
  });

  it.each([
    ['INSERT INTO t VALUES (1)', 164],
    ['  insert into t select 1', 164],
    ['ALTER TABLE t DELETE WHERE 1', 164],
    ['DROP TABLE t', 164],
    ['CREATE TABLE t (a Int8) ENGINE = Memory', 164],
    ['TRUNCATE TABLE t', 164],
    ['SYSTEM DROP DNS CACHE', 164],
    ['OPTIMIZE TABLE t FINAL', 164],
    ['KILL QUERY WHERE 1', 164],
    ['SET readonly = 0', 164],
    ['USE other', 164],
    ['RENAME TABLE a TO b', 164],
    ['EXCHANGE TABLES a AND b', 164],
    ["SELECT 1 INTO OUTFILE '/tmp/x'", 164],
    ['SELECT 1; DROP TABLE t', 62],
    ['SELECT 1; SET readonly = 0', 62],
    ["SELECT 'unterminated", 62],
    ['SELECT 1 /* unclosed', 62],
    ['', 62],
    ['  ;  ', 62],
  ])('refuses %s with code %i', (sql, code) => {
    expect(checkReadOnly(sql)).toMatchObject({ code });
  });

  it('drops the trailing semicolon and comments after the statement', () => {
    expect(checkReadOnly('SELECT 1 ;  -- done\n')).toEqual({ sql: 'SELECT 1', format: undefined });
  });

  it('finds the FORMAT clause at the top level only', () => {
    expect(checkReadOnly('SELECT 1 FORMAT JSONEachRow')).toMatchObject({ format: 'JSONEachRow' });
    expect(checkReadOnly('SELECT 1 FORMAT JSON SETTINGS max_threads = 1')).toMatchObject({ format: 'JSON' });
    expect(checkReadOnly('SELECT format FROM t')).toMatchObject({ format: undefined });
    expect(checkReadOnly('SELECT * FROM (SELECT 1 FORMAT CSV)')).toMatchObject({ format: undefined });
  });
});

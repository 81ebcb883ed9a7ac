import { isRetriable } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { isDataError, toSinkError } from './errors.ts';

const chdbError = (code: number, message: string) =>
  Object.assign(new Error(message), { code: 'CHDB_INSERT', clickhouseCode: code });

describe('toSinkError', () => {
  it('retries an unwritable data directory instead of blaming (and dead-lettering) the rows', () => {
    const err = toSinkError(
      chdbError(
        1001,
        'Code: 1001. DB::Exception: std::__1::filesystem::filesystem_error: filesystem error: in create_directories: Operation not permitted ["/data/store/48f/x/tmp_insert_all_1_1_0"]. (STD_EXCEPTION)',
      ),
      'inserting into cdc.orders',
    );
    expect(isDataError(err)).toBe(false);
    expect(isRetriable(err)).toBe(true);
    expect(err.message).toMatch(/check that the data directory is writable/);
  });

  it('splits on a std::exception raised while parsing the rows', () => {
    const err = toSinkError(
      chdbError(1001, 'Code: 1001. DB::Exception: std::out_of_range: stoull: out of range. (STD_EXCEPTION)'),
      'inserting',
    );
    expect(isDataError(err)).toBe(true);
  });

  it('reads the code of an 18.16 server message and of a refused connection', () => {
    const old = toSinkError(
      new Error('Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1'),
      'running SELEC',
    );
    expect(old).toMatchObject({ code: 'SINK_REJECTED', context: { clickhouseCode: 62, dataError: false } });
    const down = toSinkError(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      'inserting',
    );
    expect(down).toMatchObject({ code: 'SINK_UNAVAILABLE', retriable: true });
    expect(down.message).toMatch(/check that the server is up/);
  });

  it('does not retry a statement the embedded client refuses to build (it would be refused forever)', () => {
    const refused = Object.assign(
      new Error(
        'Invalid insert column: Invalid identifier "my id": expected non-empty [A-Za-z0-9_] segments',
      ),
      { name: 'ChdbInsertError' },
    );
    const err = toSinkError(refused, 'inserting into h.t');
    expect(err).toMatchObject({ code: 'SINK_REJECTED', retriable: false, context: { dataError: false } });
  });
});

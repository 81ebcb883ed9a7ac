import { CdcError } from '@cdc/core';

/** `CODE: message` for a CdcError (its message names the fix), `Name: message` otherwise. */
export function describe(err: unknown): string {
  if (err instanceof CdcError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

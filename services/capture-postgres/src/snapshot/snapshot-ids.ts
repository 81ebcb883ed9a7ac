/**
 * `snapshotChangeId` for many rows of one table: the same ids (`snap-` + sha256 of snapshot
 * id, table and the key's stable JSON), with the hash of the common prefix computed once and
 * the stable JSON of a flat key (primitive values) built without a replacer.
 */
import { createHash, type Hash } from 'node:crypto';
import { snapshotChangeId } from '@cdc/core';

export function snapshotIdsFor(snapshotId: string, table: string): (key: unknown) => string {
  const prefix: Hash = createHash('sha256').update(snapshotId).update('\0').update(table).update('\0');
  return (key) => {
    const json = flatStableJson(key);
    if (json === undefined) return snapshotChangeId(snapshotId, table, key);
    return `snap-${prefix.copy().update(json).digest('hex').slice(0, 32)}`;
  };
}

/** `stableJson` of an object whose values are all primitive; undefined for anything else. */
export function flatStableJson(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value))
    return undefined;
  const keys = Object.keys(value).sort();
  let out = '{';
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    let text: string;
    if (typeof v === 'bigint') text = JSON.stringify(v.toString());
    else if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      text = JSON.stringify(v);
    else if (v === undefined) continue;
    else return undefined;
    out += `${out === '{' ? '' : ','}${JSON.stringify(k)}:${text}`;
  }
  return `${out}}`;
}

/**
 * `snapshotChangeId` for many rows of one table: the same ids (`snap-` + sha256 of snapshot
 * id, table and the key's stable JSON), hashed in one call per row (`crypto.hash`: no Hash
 * object per row, about 2.4× cheaper than copying a prefix hash), with the stable JSON of a
 * flat key (primitive values) built without a replacer, its sorted field names kept from the
 * previous key of the same shape. A caller that already has the key's stable JSON (the chunked
 * snapshot keys its window by it) passes it and nothing is serialised twice.
 *
 *   const ids = snapshotIdsFor(snapshotId, 'public.orders');
 *   ids({ id: 1 }) === snapshotChangeId(snapshotId, 'public.orders', { id: 1 });
 */
import { hash } from 'node:crypto';
import { stableJson } from '@cdc/core';

/** The change id of a key (`json`: its `keyJson`, when the caller has it). */
export type SnapshotIds = (key: unknown, json?: string) => string;

export function snapshotIdsFor(snapshotId: string, table: string): SnapshotIds {
  const prefix = `${snapshotId}\0${table}\0`;
  const json = keyJsonBuilder();
  return (key, text) => `snap-${hash('sha256', prefix + (text ?? json(key)), 'hex').slice(0, 32)}`;
}

/** `stableJson(key)`, built faster for a flat key. */
export function keyJson(key: unknown): string {
  return flatStableJson(key) ?? stableJson(key);
}

/** `keyJson` for a run of keys that mostly share one shape (a table's keys). */
export function keyJsonBuilder(): (key: unknown) => string {
  const flat = flatJsonBuilder();
  return (key) => flat(key) ?? stableJson(key);
}

/** `stableJson` of an object whose values are all primitive; undefined for anything else. */
export function flatStableJson(value: unknown): string | undefined {
  return flatJsonBuilder()(value);
}

/**
 * `flatStableJson` for a run of objects that mostly have the same fields in the same order:
 * the sorted, quoted field names are computed again only when the fields change.
 */
function flatJsonBuilder(): (value: unknown) => string | undefined {
  let lastKeys: string[] = [];
  let sorted: { name: string; quoted: string }[] = [];
  return (value) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value))
      return undefined;
    const keys = Object.keys(value);
    if (!sameKeys(keys, lastKeys)) {
      lastKeys = keys;
      sorted = [...keys].sort().map((name) => ({ name, quoted: JSON.stringify(name) }));
    }
    let out = '{';
    for (const { name, quoted } of sorted) {
      const v = (value as Record<string, unknown>)[name];
      let text: string;
      if (typeof v === 'bigint') text = JSON.stringify(v.toString());
      else if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        text = JSON.stringify(v);
      else if (v === undefined) continue;
      else return undefined;
      out += `${out === '{' ? '' : ','}${quoted}:${text}`;
    }
    return `${out}}`;
  };
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

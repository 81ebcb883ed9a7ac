import { CdcError, isRetriable, type Logger } from '@cdc/core';
import type { GlobalStoreNode } from '../graph.ts';
import type { RawRecord } from '../task.ts';
import type { KeyValueStoreImpl } from './typed-stores.ts';

/**
 * One record of a global table's topic, read: the row to put (`value`), or `null` to delete the
 * key; undefined when there is nothing to apply. A record that cannot be read is logged and
 * skipped (unless the cause is retriable, such as a registry that is down: that throws): the
 * global table is a lookup cache, and stopping every task for one bad row would be worse (the
 * skip is visible in the log with its offset).
 */
export async function readGlobalRecord(
  node: GlobalStoreNode,
  raw: RawRecord,
  logger: Logger,
): Promise<{ key: unknown; value: unknown } | undefined> {
  let key: unknown;
  let value: unknown;
  try {
    const keyReady = node.keySerde.prepare?.(raw.topic, raw.key);
    const valueReady = node.valueSerde.prepare?.(raw.topic, raw.value);
    if (keyReady !== undefined || valueReady !== undefined) await Promise.all([keyReady, valueReady]);
    key = node.keySerde.deserialize(raw.topic, raw.key);
    value = node.valueSerde.deserialize(raw.topic, raw.value);
  } catch (err) {
    // The registry is down: the row is fine and must not be skipped.
    if (isRetriable(err)) throw err;
    logger.error('global table record cannot be deserialized; skipped', {
      store: node.store.name,
      topic: raw.topic,
      partition: raw.partition,
      offset: raw.offset,
      err: err instanceof CdcError ? err : String(err),
    });
    return undefined;
  }
  if (key === null || key === undefined) return undefined;
  return { key, value: value === null || node.isDelete(value) ? null : value };
}

/** Applies one record of a global table's topic to its store (see `readGlobalRecord`). */
export async function applyGlobalRecord(
  node: GlobalStoreNode,
  store: KeyValueStoreImpl<unknown, unknown>,
  raw: RawRecord,
  logger: Logger,
): Promise<void> {
  const row = await readGlobalRecord(node, raw, logger);
  if (row === undefined) return;
  if (row.value === null) await store.delete(row.key);
  else await store.put(row.key, row.value);
}

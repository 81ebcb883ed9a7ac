import type { ClickHouseTransport } from '@cdc/clickhouse';
import { CdcError, noopLogger } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { TableManager } from './tables.ts';

describe('TableManager.applyDrops', () => {
  it('keeps the drops of a table pending when ClickHouse fails part-way, and applies them on the retry', async () => {
    const commands: string[] = [];
    let failAlter = true;
    const transport = {
      kind: 'embedded',
      command: async (sql: string) => {
        if (sql.startsWith('ALTER TABLE') && failAlter) {
          failAlter = false;
          throw new CdcError('SINK_UNAVAILABLE', 'ClickHouse is away', { retriable: true });
        }
        commands.push(sql);
      },
      query: async () => [],
      close: async () => {},
    } as unknown as ClickHouseTransport;
    const tables = new TableManager(transport, 'db', noopLogger, { droppedColumns: 'drop' });
    // What `ensure` records when a batch's schema no longer has the column.
    (tables as unknown as { pendingDrops: Map<string, string[]> }).pendingDrops.set('orders', ['note']);

    await expect(tables.applyDrops('orders')).rejects.toThrow('ClickHouse is away');
    expect(commands.some((c) => c.startsWith('ALTER TABLE'))).toBe(false);

    await tables.applyDrops('orders');
    expect(commands.filter((c) => c.startsWith('ALTER TABLE'))).toEqual([
      'ALTER TABLE db.orders DROP COLUMN IF EXISTS `note`',
    ]);
    // Applied once: nothing left pending.
    await tables.applyDrops('orders');
    expect(commands.filter((c) => c.startsWith('ALTER TABLE'))).toHaveLength(1);
  });
});

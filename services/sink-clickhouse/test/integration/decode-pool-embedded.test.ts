/**
 * The decode worker threads and the embedded engine in one process: starting the pool and ending
 * its threads leaves the engine the main thread uses working (a worker that loaded the engine's
 * native addon tore it down when it ended, and the next large query of the main thread never
 * answered).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryClient } from '@cdc/avro';
import { EmbeddedTransport } from '@cdc/clickhouse';
import { noopLogger } from '@cdc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { DecodePool, POOLED_MAIN } from '../../src/decode-pool.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdc-decode-pool-embedded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('decode workers beside the embedded engine', () => {
  it('leave the engine answering large queries after the pool closed', { timeout: 120_000 }, async () => {
    const transport = new EmbeddedTransport(join(dir, 'clickhouse'));
    try {
      await transport.command('CREATE DATABASE d');
      await transport.command('CREATE TABLE d.t (id UInt64, s String) ENGINE = MergeTree ORDER BY id');
      await transport.command("INSERT INTO d.t SELECT number, repeat('x', 100) FROM numbers(200000)");
      // No schema is known to this registry: every record goes back to the main thread, after the
      // workers loaded everything they decode with.
      const registry = {
        url: 'none',
        schemaById: async () => undefined,
        version: async () => undefined,
      } as unknown as RegistryClient;
      const pool = new DecodePool({ registry, keyColumns: {}, threads: 2, logger: noopLogger });
      const value = Buffer.from([0, 0, 0, 0, 7, 2]);
      const records = Array.from({ length: 500 }, (_, i) => ({
        topic: 't',
        partition: 0,
        offset: String(i),
        key: null,
        value,
        timestamp: '0',
      }));
      const pooled = await pool.decode(records);
      expect(pooled.every((p) => p.kind === POOLED_MAIN)).toBe(true);
      await pool.close();
      const rows = await transport.queryRaw('SELECT * FROM d.t ORDER BY id', 'JSONEachRow');
      expect(rows.toString().split('\n').length - 1).toBe(200_000);
    } finally {
      await transport.close();
    }
  });
});

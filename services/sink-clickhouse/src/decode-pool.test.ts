import {
  derivePgRowSchema,
  envelopeSchema,
  keySchema,
  type PgRelation,
  type PgType,
  parseSchema,
  pgKeyFromRow,
  pgRowFromText,
  type RegistryClient,
} from '@cdc/avro';
import { isCdcError, noopLogger } from '@cdc/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type KafkaRecord, RecordDecoder } from './decode.ts';
import { DecodePool, POOLED_LINE, POOLED_MAIN } from './decode-pool.ts';
import { LineWriter } from './row-encoder.ts';

const TOPIC = 'cdc.shop.public.orders';
const t = (name: string): PgType => ({ oid: 0, schema: 'pg_catalog', name, kind: 'base' });
const relation: PgRelation = {
  schema: 'public',
  name: 'orders',
  columns: [
    { name: 'id', type: t('int8'), typmod: -1, notNull: true, isKey: true },
    { name: 'note', type: t('text'), typmod: -1, notNull: false, isKey: false },
    { name: 'total', type: t('numeric'), typmod: ((12 << 16) | 2) + 4, notNull: false, isKey: false },
    { name: 'at', type: t('timestamptz'), typmod: -1, notNull: false, isKey: false },
    { name: 'raw', type: t('bytea'), typmod: -1, notNull: false, isKey: false },
  ],
};
const rs = derivePgRowSchema(relation);
const valueText = JSON.stringify(envelopeSchema(TOPIC, rs.row, 'postgresql'));
const keyText = JSON.stringify(keySchema(TOPIC, rs.keyFields));
const valueType = parseSchema(valueText);
const keyType = parseSchema(keyText);
/** The registry as the decoder reads it: schema 1 is the value's, 2 the key's; nothing else exists. */
const registry = {
  url: 'in-memory',
  schemaById: async (id: number) => (id === 1 ? valueText : id === 2 ? keyText : undefined),
  version: async () => undefined,
} as unknown as RegistryClient;

const framed = (id: number, payload: Buffer) => {
  const head = Buffer.alloc(5);
  head.writeInt32BE(id, 1);
  return Buffer.concat([head, payload]);
};

function change(k: number, op: 'c' | 'd' = 'c'): KafkaRecord {
  const row = pgRowFromText(rs, [
    String(k),
    k % 3 === 0 ? null : `note "${k}" é ✓\n`,
    `${k}.${String(k % 100).padStart(2, '0')}`,
    k % 4 === 0 ? 'infinity' : `2025-01-0${1 + (k % 9)} 10:00:00+00`,
    k % 5 === 0 ? '\\x00ff22' : null,
  ]);
  const lsn = `0/${(0x1000 + k * 16).toString(16).toUpperCase()}`;
  const value = {
    before: op === 'd' ? row : null,
    after: op === 'd' ? null : row,
    source: {
      connector: 'postgresql',
      name: 'shop',
      db: 'shop',
      schema: 'public',
      table: 'orders',
      lsn,
      commitLsn: lsn,
      txId: String(k),
      tsMs: 1_735_689_600_000n + BigInt(k),
      snapshot: 'false',
    },
    op,
    tsMs: 1_735_689_600_000n + BigInt(k),
    changeId: `${(0x1000 + k * 16).toString(16).padStart(16, '0')}-00000000`,
  };
  return {
    topic: TOPIC,
    partition: 0,
    offset: String(k),
    key: framed(2, keyType.toBuffer(pgKeyFromRow(rs, row))),
    value: framed(1, valueType.toBuffer(value)),
    timestamp: String(1_735_689_600_000 + k),
  };
}

let pool: DecodePool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('DecodePool', () => {
  it('encodes each row as the main thread would, in record order across workers', async () => {
    const records: KafkaRecord[] = [];
    for (let k = 1; k <= 301; k++) records.push(change(k, k % 7 === 0 ? 'd' : 'c'));
    // Not the wire format, a schema id the registry does not have, a tombstone: left to the main thread.
    records[10] = { ...records[10]!, value: Buffer.from('not avro') };
    records[20] = { ...records[20]!, value: framed(99, Buffer.from([2, 4])) };
    records[30] = { ...records[30]!, value: null };
    pool = new DecodePool({ registry, keyColumns: {}, threads: 3, logger: noopLogger });
    await pool.ready();
    const pooled = await pool.decode(records);
    const main = new RecordDecoder(registry);
    expect(pooled).toHaveLength(records.length);
    let compact = 0;
    for (const [i, record] of records.entries()) {
      const p = pooled[i]!;
      if (i === 10 || i === 20 || i === 30) {
        expect(p.kind).toBe(POOLED_MAIN);
        continue;
      }
      const d = await main.decode(record);
      if (p.kind !== POOLED_LINE || d.kind !== 'row') throw new Error(`record ${i}: ${p.kind} / ${d.kind}`);
      // The transcoder's compact line; the decoder's JSONEachRow line for a row it gives up on
      // (a timestamp of infinity goes to _out_of_range) and for a worker's first record (its
      // schemas fetched by decoding it).
      if ('_out_of_range' in d.row) expect(p.compact).toBe(false);
      if (p.compact) compact++;
      const w = new LineWriter(16);
      if (p.compact) w.writeCompact(d.row, p.columns);
      else w.write(d.row);
      expect(p.line.toString('latin1')).toBe(w.bytes().toString('latin1'));
      expect(p.shapeId).toBe(d.shapeId);
      expect(p.source).toBe(d.source);
      expect(p.commitMs).toBe(1_735_689_600_000 + i + 1);
      for (const c in d.row) expect(p.columns).toContain(c);
    }
    // 298 rows, 75 of them with a timestamp of infinity, 3 workers.
    expect(compact).toBeGreaterThanOrEqual(298 - 75 - 3);
  });

  it('fails a decode in flight and every later one when a worker dies, instead of waiting', async () => {
    pool = new DecodePool({ registry, keyColumns: {}, threads: 2, logger: noopLogger });
    const records = Array.from({ length: 2_000 }, (_, k) => change(k + 1));
    const inFlight = pool.decode(records);
    // As an out-of-memory abort or a native crash would end it.
    await (pool as unknown as { workers: { terminate(): Promise<number> }[] }).workers[1]!.terminate();
    const err = await inFlight.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCdcError(err, 'INVARIANT_VIOLATED')).toBe(true);
    expect(isCdcError(err) && err.retriable).toBe(false);
    expect(String((err as Error).message)).toMatch(
      /decode worker thread sink-decode-1 \(thread \d+\) exited with code/,
    );
    await expect(pool.decode(records.slice(0, 10))).rejects.toThrow(/decode worker thread/);
  });
});

/**
 * A decode worker thread (see `decode-pool.ts`): records in, lines out (JSONCompactEachRow where the
 * transcoder writes them, else JSONEachRow), with the
 * shape, source and commit time of each. Schemas are asked of the main thread's registry client.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { RegistryClient } from '@cdc/avro';
// Never the root entry of @cdc/clickhouse: it loads the embedded engine's native addon, whose
// teardown when this thread ends would break the engine the main thread uses.
import { OUT_OF_RANGE_COLUMN } from '@cdc/clickhouse/schema';
import { type Decoded, type KafkaRecord, RecordDecoder } from './decode.ts';
import {
  type ChunkRequest,
  type ChunkResult,
  Interner,
  type MainMessage,
  POOLED_COMPACT,
  POOLED_LINE,
  POOLED_MAIN,
  POOLED_SKIP,
  type WorkerMessage,
} from './decode-pool.ts';
import { LineWriter } from './row-encoder.ts';
import { sourceCommitMs } from './row-item.ts';

const port = parentPort!;
const { keyColumns } = workerData as { keyColumns: Record<string, readonly string[]> };

let nextAsk = 1;
const asked = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();

function ask<T>(message: WorkerMessage & { type: 'registry' }): Promise<T> {
  const { promise, resolve, reject } = Promise.withResolvers<unknown>();
  asked.set(message.id, { resolve, reject });
  port.postMessage(message);
  return promise as Promise<T>;
}

/** The registry as the decoder uses it, answered by the main thread's client. */
const registry = {
  url: 'the sink main thread',
  schemaById: (schemaId: number) =>
    ask<string>({ type: 'registry', id: nextAsk++, op: 'schemaById', schemaId }),
  version: (subject: string, version: number | 'latest') =>
    ask({ type: 'registry', id: nextAsk++, op: 'version', subject, version }),
} as unknown as RegistryClient;

const decoder = new RecordDecoder(registry, (topic) => keyColumns[topic]);

async function decodeChunk(req: ChunkRequest): Promise<ChunkResult> {
  const count = req.offsets.length;
  const data = Buffer.from(req.data);
  const kinds = new Uint8Array(count);
  const ends = new Uint32Array(count);
  const shapeOf = new Uint16Array(count);
  const compactOf = new Uint16Array(count);
  const compactColumns = new Interner<readonly string[]>();
  const sourceOf = new Int16Array(count).fill(-1);
  const commitMs = new Float64Array(count).fill(Number.NaN);
  const shapes = new Interner<string>();
  const columns: Set<string>[] = [];
  const scanned: boolean[] = [];
  const sources = new Interner<string>();
  const lines = new LineWriter(Math.max(1 << 12, req.data.byteLength * 2));
  const shapeAt = (shapeId: string): number => {
    const shape = shapes.of(shapeId);
    if (shape === columns.length) columns.push(new Set());
    return shape;
  };
  const part = (k: number, slot: number): Buffer | null => {
    const len = req.spans[k * 4 + slot + 1]!;
    return len < 0 ? null : data.subarray(req.spans[k * 4 + slot]!, req.spans[k * 4 + slot]! + len);
  };
  for (let k = 0; k < count; k++) {
    ends[k] = lines.length;
    const record: KafkaRecord = {
      topic: req.topics[req.topicOf[k]!]!,
      partition: req.partitions[k]!,
      offset: req.offsets[k]!,
      key: part(k, 0),
      value: part(k, 2),
      timestamp: req.timestamps[k]!,
    };
    // A tombstone's meaning depends on the records before it (in other chunks too): the main thread's.
    if (record.value === null || record.value.length === 0) {
      kinds[k] = POOLED_MAIN;
      continue;
    }
    // The common case: the line written straight from the record's bytes (`transcoder.ts`).
    const t = decoder.transcodeKnown(record, lines);
    if (t !== undefined) {
      const shape = shapeAt(t.shapeId);
      // Every line of a transcoder holds its one column list.
      compactOf[k] = compactColumns.of(t.columns);
      if (t.source !== undefined) sourceOf[k] = sources.of(t.source);
      commitMs[k] = t.commitMs ?? Number.NaN;
      kinds[k] = POOLED_COMPACT;
      shapeOf[k] = shape;
      ends[k] = lines.length;
      continue;
    }
    let decoded: Decoded;
    try {
      decoded = decoder.decodeKnown(record) ?? (await decoder.decode(record));
    } catch {
      // The main thread decodes it again and handles its error as it always did.
      kinds[k] = POOLED_MAIN;
      continue;
    }
    if (decoded.kind === 'skip') {
      kinds[k] = POOLED_SKIP;
      continue;
    }
    if (decoded.kind !== 'row') {
      kinds[k] = POOLED_MAIN;
      continue;
    }
    const shape = shapeAt(decoded.shapeId);
    // Rows of one shape that are not deletes have the same columns, but for the out-of-range note:
    // one such row, every delete (its before image may hold the key only) and every noted row
    // are enough to know them all.
    const row = decoded.row;
    if (!scanned[shape] || row._is_deleted !== 0 || row[OUT_OF_RANGE_COLUMN] !== undefined) {
      const cols = columns[shape]!;
      for (const c in row) cols.add(c);
      if (row._is_deleted === 0) scanned[shape] = true;
    }
    if (decoded.source !== undefined) sourceOf[k] = sources.of(decoded.source);
    commitMs[k] = sourceCommitMs({ row: decoded.row, record }) ?? Number.NaN;
    lines.write(decoded.row);
    kinds[k] = POOLED_LINE;
    shapeOf[k] = shape;
    ends[k] = lines.length;
  }
  const out = lines.detach();
  return {
    type: 'decoded',
    id: req.id,
    kinds,
    lines: out,
    ends,
    shapeOf,
    shapeIds: shapes.values,
    columns: columns.map((c) => [...c]),
    compactOf,
    compactColumns: compactColumns.values as string[][],
    sourceOf,
    sources: sources.values,
    commitMs,
  };
}

port.on('message', (m: MainMessage) => {
  if (m.type === 'registry') {
    const a = asked.get(m.id);
    asked.delete(m.id);
    if (m.ok) a?.resolve(m.value);
    else a?.reject(new Error(m.message));
    return;
  }
  decodeChunk(m).then(
    (result) =>
      port.postMessage(result, [
        result.lines,
        result.kinds.buffer,
        result.ends.buffer,
        result.shapeOf.buffer,
        result.compactOf.buffer,
        result.sourceOf.buffer,
        result.commitMs.buffer,
      ] as ArrayBuffer[]),
    (err) =>
      port.postMessage({
        type: 'failed',
        id: m.id,
        message: String(err?.stack ?? err),
      } satisfies WorkerMessage),
  );
});
port.postMessage({ type: 'ready' } satisfies WorkerMessage);

import { describe, expect, it } from 'vitest';
import { pipelineReference, referenceRows } from './reference.ts';

describe('the pipeline file reference', () => {
  const rows = referenceRows();

  it('lists every key with its type and default, nested ones included', () => {
    const page = pipelineReference();
    expect(page).toContain('| `sources.postgres[].slot` | string matching');
    expect(page).toContain('`"cdc"`');
    expect(page).toContain('| `clickhouse.sink.batch.maxRows` | integer |');
    expect(page).toContain('| `processing.aggregate[].window` |');
  });

  it('describes every key', () => {
    expect(rows.filter((r) => r.description.trim() === '').map((r) => r.key)).toEqual([]);
  });

  it('has descriptions in words, not code', () => {
    expect(rows.filter((r) => /^\s*(z\.|\.|=>|\{)/.test(r.description)).map((r) => r.key)).toEqual([]);
  });

  it('describes a key under its own name (a nested key gets its own text, not a sibling section’s)', () => {
    const of = (key: string) => rows.find((r) => r.key === key)?.description;
    expect(of('sources.postgres[].snapshotOptions.chunkRows')).not.toBe(
      of('sources.mongo[].snapshotOptions.batchSize'),
    );
    expect(of('clickhouse.sink.tables')).not.toBe(of('sources.postgres[].tables'));
  });
});

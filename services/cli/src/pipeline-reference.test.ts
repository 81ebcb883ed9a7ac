import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { docComments, pipelineReference, REFERENCE_FILE } from './pipeline-reference.ts';

describe('docs/pipeline-reference.md', () => {
  it('is the page the schemas generate today (rewrite it with `npm run cdc -- docs`)', () => {
    expect(readFileSync(REFERENCE_FILE, 'utf8')).toBe(pipelineReference());
  });

  it('lists every key with its type and default, nested ones included', () => {
    const page = pipelineReference();
    expect(page).toContain('| `sources.postgres[].slot` | string matching');
    expect(page).toContain('`"cdc"`');
    expect(page).toContain('| `clickhouse.sink.batch.maxRows` | integer |');
    expect(page).toContain('| `processing.aggregate[].window` |');
  });

  it('reads doc comments above keys', () => {
    expect(
      docComments('  /** Rows per read\n   * (keyset). */\n  chunkRows: z.number(),').get('chunkRows'),
    ).toBe('Rows per read (keyset).');
  });
});

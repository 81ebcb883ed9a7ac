import { readFileSync } from 'node:fs';
import { pipelineReference } from '@cdc/pipeline';
import { describe, expect, it } from 'vitest';
import { REFERENCE_FILE } from './pipeline-reference.ts';

describe('docs/pipeline-reference.md', () => {
  it('is the page the schemas generate today (rewrite it with `npm run cdc -- docs`)', () => {
    expect(readFileSync(REFERENCE_FILE, 'utf8')).toBe(pipelineReference());
  });
});

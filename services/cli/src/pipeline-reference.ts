/** Where `npm run cdc -- docs` writes the pipeline file's reference (`pipelineReference` of `@cdc/pipeline`). */
import { resolve } from 'node:path';
import { REPO_ROOT } from '@cdc/operate';

export const REFERENCE_FILE = resolve(REPO_ROOT, 'docs/pipeline-reference.md');

import { resolve } from 'node:path';
import type { StateDir } from '@cdc/operate';

/** `<state dir>/run/control.url`: the URL the control service listens on, written once it listens. */
export const controlUrlFile = (state: StateDir): string => resolve(state.runDir, 'control.url');

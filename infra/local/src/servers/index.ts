import type { LocalServer } from '../server.ts';
import { postgres } from './postgres.ts';

/** Every server of the local stack, in start order. */
export const SERVERS: LocalServer[] = [postgres];

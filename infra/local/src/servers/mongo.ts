import type { LocalServer } from '../server.ts';

// Placeholder while this server is being brought up; replaced by its real module.
const missing = async (): Promise<never> => {
  throw new Error('mongo: not wired into the local stack yet');
};

export const mongo: LocalServer = {
  name: 'mongo',
  description: 'SecantusDB (MongoDB-compatible, change streams)',
  ports: [],
  install: missing,
  start: missing,
  health: missing,
};

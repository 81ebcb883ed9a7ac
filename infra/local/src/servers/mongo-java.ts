import type { LocalServer } from '../server.ts';

// Placeholder while this server is being brought up; replaced by its real module.
const missing = async (): Promise<never> => {
  throw new Error('mongo-java: not wired into the local stack yet');
};

export const mongoJava: LocalServer = {
  name: 'mongo-java',
  description: 'mongo-java-server (oplog enabled)',
  ports: [],
  install: missing,
  start: missing,
  health: missing,
};

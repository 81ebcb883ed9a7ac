import type { LocalServer } from '../server.ts';

// Placeholder while this server is being brought up; replaced by its real module.
const missing = async (): Promise<never> => {
  throw new Error('registry: not wired into the local stack yet');
};

export const registry: LocalServer = {
  name: 'registry',
  description: 'Schema registry (Confluent REST API)',
  ports: [],
  install: missing,
  start: missing,
  health: missing,
};

import type { LocalServer } from '../server.ts';

// Placeholder while this server is being brought up; replaced by its real module.
const missing = async (): Promise<never> => {
  throw new Error('kafka: not wired into the local stack yet');
};

export const kafka: LocalServer = {
  name: 'kafka',
  description: 'Apache Kafka (KRaft, single node)',
  ports: [],
  install: missing,
  start: missing,
  health: missing,
};

import type { LocalServer } from '../server.ts';

// Placeholder while this server is being brought up; replaced by its real module.
const missing = async (): Promise<never> => {
  throw new Error('clickhouse: not wired into the local stack yet');
};

export const clickhouse: LocalServer = {
  name: 'clickhouse',
  description: 'ClickHouse server (Debian, HTTP)',
  ports: [],
  install: missing,
  start: missing,
  health: missing,
};

/**
 * Every port the local stack listens on, with the environment variable that overrides it.
 * All listeners bind to 127.0.0.1. The defaults sit away from the servers' usual ports so
 * that a developer's own PostgreSQL, Kafka or MongoDB keeps running beside the stack.
 */
export const PORTS = {
  postgres: { env: 'CDC_STACK_POSTGRES_PORT', default: 15432 },
  kafka: { env: 'CDC_STACK_KAFKA_PORT', default: 19092 },
  kafkaController: { env: 'CDC_STACK_KAFKA_CONTROLLER_PORT', default: 19093 },
  registry: { env: 'CDC_STACK_REGISTRY_PORT', default: 18081 },
  mongo: { env: 'CDC_STACK_MONGO_PORT', default: 27117 },
  mongoJava: { env: 'CDC_STACK_MONGO_JAVA_PORT', default: 27118 },
  clickhouseHttp: { env: 'CDC_STACK_CLICKHOUSE_HTTP_PORT', default: 18123 },
  clickhouseTcp: { env: 'CDC_STACK_CLICKHOUSE_TCP_PORT', default: 19000 },
} as const;

export type PortName = keyof typeof PORTS;

export const HOST = '127.0.0.1';

export function port(name: PortName, env: NodeJS.ProcessEnv = process.env): number {
  const spec = PORTS[name];
  const raw = env[spec.env];
  if (raw === undefined || raw === '') return spec.default;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error(
      `${spec.env}=${JSON.stringify(raw)} is not a TCP port: set it to an integer between 1 and 65535`,
    );
  }
  return n;
}

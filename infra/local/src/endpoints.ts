/**
 * Where the local stack's servers answer. Tests and tools import this instead of hard-coding
 * ports, so one environment variable moves a server for everyone.
 *
 *   import { localEndpoints } from '@cdc/local-stack';
 *   const { kafka } = localEndpoints();
 *   new Kafka({ brokers: kafka.brokers });
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { HOST, port } from './ports.ts';

export interface LocalEndpoints {
  postgres: { host: string; port: number; user: string; password: string; database: string; url: string };
  /** A role with REPLICATION for logical replication slots. */
  postgresReplication: { user: string; password: string; url: string };
  kafka: { brokers: string[] };
  /** Confluent-compatible REST API base URL of the schema registry. */
  registry: { url: string };
  /** SecantusDB: the MongoDB-compatible server with change streams (single-node replica set). */
  mongo: { url: string };
  /** mongo-java-server with its oplog enabled: a second, independent implementation. */
  mongoJava: { url: string };
  /** Debian's clickhouse-server over HTTP (old: for HTTP transport tests only). */
  clickhouse: { url: string };
  /** A scratch directory for embedded chdb databases. */
  chdbDir: string;
  /** The stack's folder (data, logs, caches). */
  stackDir: string;
}

export function stackDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.CDC_STACK_DIR ?? resolve(import.meta.dirname, '../../../.stack'));
}

export function localEndpoints(env: NodeJS.ProcessEnv = process.env): LocalEndpoints {
  const dir = stackDir(env);
  const pg = port('postgres', env);
  return {
    postgres: {
      host: HOST,
      port: pg,
      user: 'cdc',
      password: 'cdc',
      database: 'cdc',
      url: `postgres://cdc:cdc@${HOST}:${pg}/cdc`,
    },
    postgresReplication: {
      user: 'cdc_replication',
      password: 'cdc_replication',
      url: `postgres://cdc_replication:cdc_replication@${HOST}:${pg}/cdc`,
    },
    kafka: { brokers: [`${HOST}:${port('kafka', env)}`] },
    registry: { url: `http://${HOST}:${port('registry', env)}/apis/ccompat/v7` },
    mongo: { url: `mongodb://${HOST}:${port('mongo', env)}/?directConnection=true` },
    mongoJava: { url: `mongodb://${HOST}:${port('mongoJava', env)}/?directConnection=true` },
    clickhouse: { url: `http://${HOST}:${port('clickhouseHttp', env)}` },
    chdbDir: resolve(dir, 'data', 'chdb'),
    stackDir: dir,
  };
}

/**
 * The command to run a tool the stack installs for the tests (`promtool`, `kcat`): the stack's
 * copy in `.stack/tools/bin` when it has one, else the name (found on PATH).
 */
export function localTool(name: 'promtool' | 'kcat', env: NodeJS.ProcessEnv = process.env): string {
  const own = resolve(stackDir(env), 'tools', 'bin', name);
  return existsSync(own) ? own : name;
}

/**
 * Java tools the tests run next to the broker, resolved by `stack up` into one class path
 * (`<cache>/maven/<name>/lib`): Kafka's console consumer (`kafka-tools`) with the registry's Avro
 * deserializer (Apicurio's serde 2.x, which reads the Confluent wire format through the
 * registry's v2 API), and Kafka Connect (`connect-runtime`, standalone) with Debezium's
 * PostgreSQL connector and Apicurio's Avro converter. Kafka's version is the broker's
 * (servers/kafka.ts).
 */
export const KAFKA_TOOLS = {
  name: 'kafka-tools-4.3.1',
  kafka: '4.3.1',
  apicurio: '2.6.13.Final',
  debezium: '3.6.1.Final',
  jackson: '2.21.2',
  slf4j: '1.7.36',
} as const;

/** The class path (`<dir>/*`) of KAFKA_TOOLS, or undefined before `stack up` resolved it. */
export function kafkaToolsClasspath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const cache = resolve(env.CDC_STACK_CACHE_DIR ?? resolve(stackDir(env), 'cache'));
  const lib = resolve(cache, 'maven', KAFKA_TOOLS.name, 'lib');
  return existsSync(resolve(lib, `kafka-tools-${KAFKA_TOOLS.kafka}.jar`)) ? `${lib}/*` : undefined;
}

import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from '@cdc/core';
import {
  Kafka,
  type KafkaConfig as KafkaJsConfig,
  logLevel,
  Partitioners,
  type Producer,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import type { KafkaConfig } from './config.ts';

/** A PEM value from config: inline, or read from the file it names. */
function pem(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.includes('-----BEGIN')) return value;
  if (!existsSync(value)) throw new Error(`kafka.ssl: ${value} is neither a PEM block nor an existing file`);
  return readFileSync(value, 'utf8');
}

function ssl(config: KafkaConfig): KafkaJsConfig['ssl'] {
  if (typeof config.ssl === 'boolean') return config.ssl;
  const { ca, cert, key, passphrase, servername, rejectUnauthorized } = config.ssl;
  return {
    rejectUnauthorized,
    ...(ca ? { ca: [pem(ca)!] } : {}),
    ...(cert ? { cert: pem(cert) } : {}),
    ...(key ? { key: pem(key) } : {}),
    ...(passphrase ? { passphrase } : {}),
    ...(servername ? { servername } : {}),
  };
}

function sasl(config: KafkaConfig): SASLOptions | undefined {
  if (!config.sasl) return undefined;
  const { mechanism, username, password } = config.sasl;
  return { mechanism, username, password } as SASLOptions;
}

const LEVEL_NAMES: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Producers partition keyed records as Java's clients do (murmur2 of the key bytes: kafkajs'
 * `DefaultPartitioner`), so a key lands in the partition Kafka Streams and Java producers put it
 * in. kafkajs' default already, but named here: without it kafkajs warns on every producer it
 * makes that its default changed in 2.0.
 */
class CdcKafka extends Kafka {
  override producer(config: ProducerConfig = {}): Producer {
    return super.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...config });
  }
}

/**
 * What kafkajs says when an idempotent producer has a bounded number of retries, as every
 * producer here has (the pipeline's retry policy: a service whose sends keep failing stops and is
 * restarted, rather than hanging on a send forever). The hazard it warns of is a failed send whose
 * batch the broker had appended after all: kafkajs gives its sequence numbers back, and a later
 * batch reusing them may be dropped as a duplicate. Neither producer made here sends again under
 * those numbers: a TransactionalProducer ends its session after a failed write and an
 * IdempotentProducer starts a new one, each with a new producer id or epoch. Logged once per
 * producer (22 lines in a demo), it said something untrue of this pipeline.
 */
const LIMITED_RETRIES_WARNING = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

/** A kafkajs client from validated config; kafkajs' own log lines go to `logger` (component `kafkajs`). */
export function createKafka(config: KafkaConfig, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  const saslOptions = sasl(config);
  return new CdcKafka({
    clientId: config.clientId,
    brokers: config.brokers,
    ssl: ssl(config),
    ...(saslOptions ? { sasl: saslOptions } : {}),
    connectionTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    retry: {
      retries: config.retry.retries,
      initialRetryTime: config.retry.initialRetryTimeMs,
      maxRetryTime: config.retry.maxRetryTimeMs,
    },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...fields } = entry;
        if (message === LIMITED_RETRIES_WARNING) return;
        log[LEVEL_NAMES[level] ?? 'info'](message, fields);
      },
  });
}

/**
 * librdkafka (`@confluentinc/kafka-javascript` 1.10.1, native), loaded at run time from a
 * directory outside the workspace: the package builds librdkafka from source when it is
 * installed, which the repository's own install must not do on every machine while the product
 * does not use it. `kafka-produce/install-rdkafka.sh` installs it into such a directory; the
 * benchmarks take it from `--rdkafka-dir` or `CDC_RDKAFKA_DIR`. Only what they use is typed here.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const RDKAFKA_PACKAGE = '@confluentinc/kafka-javascript';
export const RDKAFKA_VERSION = '1.10.1';

export type Callback = (err: RdError | null | undefined) => void;
export interface RdError extends Error {
  code: number;
}
export interface NativeProducer {
  connect(metadataOptions: object, cb: Callback): void;
  disconnect(cb: Callback): void;
  initTransactions(timeoutMs: number, cb: Callback): void;
  beginTransaction(cb: Callback): void;
  commitTransaction(timeoutMs: number, cb: Callback): void;
  flush(timeoutMs: number, cb: Callback): void;
  produce(
    topic: string,
    partition: number | null,
    value: Buffer,
    key: Buffer,
    timestamp: number | null,
    opaque: unknown,
    headers: Record<string, Buffer>[],
  ): unknown;
}
export interface CompatTransaction {
  send(record: {
    topic: string;
    messages: { key: Buffer; value: Buffer; headers: Record<string, string> }[];
  }): Promise<unknown>;
  commit(): Promise<void>;
}
export interface CompatProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  transaction(): Promise<CompatTransaction>;
}
export interface NativeMessage {
  value: Buffer | null;
  key?: Buffer | null;
  partition: number;
  offset: number;
}
export interface NativeConsumer {
  connect(metadataOptions: object, cb: Callback): void;
  disconnect(cb: Callback): void;
  subscribe(topics: string[]): void;
  consume(count: number, cb: (err: RdError | null | undefined, messages: NativeMessage[]) => void): void;
  setDefaultConsumeTimeout(timeoutMs: number): void;
}
export interface CompatConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(o: { topics: string[] }): Promise<void>;
  run(o: { eachBatch: (p: { batch: { messages: unknown[] } }) => Promise<void> }): Promise<void>;
}
export interface RdkafkaModule {
  librdkafkaVersion: string;
  Producer: new (conf: Record<string, unknown>, topicConf?: Record<string, unknown>) => NativeProducer;
  KafkaConsumer: new (conf: Record<string, unknown>, topicConf?: Record<string, unknown>) => NativeConsumer;
  KafkaJS: {
    Kafka: new (
      conf: Record<string, unknown>,
    ) => {
      producer(conf: Record<string, unknown>): CompatProducer;
      consumer(conf: Record<string, unknown>): CompatConsumer;
    };
    logLevel: Record<string, number>;
  };
}

/** Where the package is installed, from the flag or the environment; undefined when neither. */
export function rdkafkaDir(flag: string | undefined): string | undefined {
  return flag || process.env.CDC_RDKAFKA_DIR || undefined;
}

/**
 * The package from `dir`, or a message saying why it cannot be used there and how to install it.
 */
export function loadRdkafka(dir: string): { module: RdkafkaModule } | { problem: string } {
  const require = createRequire(join(dir, 'package.json'));
  try {
    const version = (require(`${RDKAFKA_PACKAGE}/package.json`) as { version: string }).version;
    if (version !== RDKAFKA_VERSION) {
      return {
        problem: `${dir} holds ${RDKAFKA_PACKAGE} ${version}, not ${RDKAFKA_VERSION}: ${howToInstall(dir)}`,
      };
    }
    return { module: require(RDKAFKA_PACKAGE) as RdkafkaModule };
  } catch (err) {
    return {
      problem: `${RDKAFKA_PACKAGE} cannot be loaded from ${dir} (${(err as Error).message.split('\n')[0]}): ${howToInstall(dir)}`,
    };
  }
}

export function howToInstall(dir = '<dir>'): string {
  return `install it with \`sh loadtests/kafka-produce/install-rdkafka.sh ${dir}\` (about 1-2 min, builds librdkafka) and pass \`--rdkafka-dir ${dir}\` or set CDC_RDKAFKA_DIR`;
}

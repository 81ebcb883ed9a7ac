/**
 * capture-mongo: the composition root. Loads the pipeline file, makes the logger and the
 * clients, runs one capture per MongoDB source (or the one named by --source), and on
 * SIGTERM/SIGINT stops reading, writes what is buffered with its resume token in a last Kafka
 * transaction (or lets it abort) and closes in reverse order.
 *
 *   node services/capture-mongo/dist/main.js --config pipeline.yaml [--source shop]
 */
import { parseArgs } from 'node:util';
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { createJsonLogger, type LogLevel, systemClock } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { loadPipeline } from '@cdc/pipeline';
import { MongoCapture } from './capture.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, source: { type: 'string' } },
  });
  if (!values.config) {
    process.stderr.write('usage: capture-mongo --config <pipeline file> [--source <name>]\n');
    return 2;
  }
  const pipeline = loadPipeline(values.config);
  const sources = pipeline.sources.mongo.filter((s) => !values.source || s.name === values.source);
  const secrets = [
    ...sources.map((s) => passwordOf(s.uri)),
    pipeline.kafka.sasl?.password,
    pipeline.registry.auth?.password,
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
  const logger = createJsonLogger({
    level: (process.env.CDC_LOG_LEVEL as LogLevel | undefined) ?? 'info',
    secrets,
  }).child({ service: 'capture-mongo' });
  if (sources.length === 0) {
    logger.error(
      values.source ? `no MongoDB source named ${values.source}` : 'the pipeline has no MongoDB source',
    );
    return 2;
  }
  const kafka = createKafka(pipeline.kafka, logger);
  const admin = kafka.admin();
  await admin.connect();
  const registry = new RegistryClient({
    url: pipeline.registry.url,
    ...(pipeline.registry.auth ? { auth: pipeline.registry.auth } : {}),
    logger,
  });
  // Inferred MongoDB schemas write their unions wrapped (an integral double must keep its branch).
  const serde = new AvroSerde({ registry, logger, wrapUnions: true });
  const stop = new AbortController();
  const onSignal = (signal: string) => {
    logger.info('stopping', { signal });
    stop.abort(new Error(signal));
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  let code = 0;
  try {
    await Promise.all(
      sources.map((source) =>
        new MongoCapture({
          source,
          kafka,
          admin,
          serde,
          logger: logger.child({ source: source.name }),
          clock: systemClock,
        })
          .run(stop.signal)
          .catch((err: unknown) => {
            code = 1;
            stop.abort(err);
          }),
      ),
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  logger.info('stopped', { exitCode: code });
  return code;
}

/** The password of a mongodb:// URI, to redact it from logs. */
function passwordOf(uri: string): string | undefined {
  const m = /^mongodb(?:\+srv)?:\/\/[^:@/]*:([^@/]*)@/.exec(uri);
  return m?.[1] ? decodeURIComponent(m[1]) : undefined;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'error', msg: 'capture-mongo failed', err: String(err) })}\n`,
    );
    process.exit(1);
  },
);

/**
 * processor: `node services/processor/dist/main.js --config pipeline.yaml`.
 * The composition root: load the pipeline file, make the logger and the clients, build the
 * topology from the `processing` declarations and start it; on SIGTERM/SIGINT stop consuming,
 * finish or abort the open transactions, checkpoint the stores and close in reverse order.
 */
import { parseArgs } from 'node:util';
import { RegistryClient } from '@cdc/avro';
import { createJsonLogger, type Logger } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { loadPipeline } from '@cdc/pipeline';
import { ProcessorApp } from './app.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' } } });
  if (!values.config) {
    process.stderr.write('usage: processor --config <pipeline.yaml>\n');
    process.exit(2);
  }
  const pipeline = loadPipeline(values.config);
  const logger: Logger = createJsonLogger({
    level: (process.env.LOG_LEVEL as 'info' | undefined) ?? 'info',
    secrets: [pipeline.registry.auth?.password].filter((s): s is string => typeof s === 'string'),
  }).child({ service: 'processor' });
  const section = pipeline.processing;
  if (!section || section.aggregate.length === 0) {
    logger.error(
      'the pipeline file declares no processing: add processing.aggregate (see libs/pipeline/src/sections/processing.ts)',
    );
    process.exit(2);
  }
  const registry = new RegistryClient({
    url: pipeline.registry.url,
    ...(pipeline.registry.auth ? { auth: pipeline.registry.auth } : {}),
    logger,
  });
  const kafka = createKafka(pipeline.kafka, logger);
  const app = new ProcessorApp({ section, kafka, registry, logger });
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    logger.info('stopping', { signal });
    stopping ??= app.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await app.start();
  logger.info('processor running', {
    aggregates: section.aggregate.map((a) => a.name),
    queries: app.queryUrl,
  });
  // The streams runtime fails loudly (and stays failed); exit so that a supervisor restarts it.
  const watch = setInterval(() => {
    if (app.state === 'failed') {
      clearInterval(watch);
      logger.error('processing failed; exiting (state is rebuilt from Kafka on restart)', {
        err: String(app.error),
      });
      void app.close().finally(() => process.exit(1));
    }
  }, 500);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', msg: 'processor failed', err: String((err as Error)?.stack ?? err) })}\n`,
  );
  process.exit(1);
});

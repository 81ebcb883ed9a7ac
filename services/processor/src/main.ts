/**
 * processor: `node services/processor/dist/main.js --config pipeline.yaml`.
 * The composition root: load the pipeline file, make the logger and the clients, build the
 * topology from the `processing` declarations and start it; on SIGTERM/SIGINT stop consuming,
 * finish or abort the open transactions, checkpoint the stores and close in reverse order.
 */
import { parseArgs } from 'node:util';
import { RegistryClient } from '@cdc/avro';
import type { Logger, LogLevel } from '@cdc/core';
import { createKafka, pollGroupLag } from '@cdc/kafka';
import { loadPipeline } from '@cdc/pipeline';
import { createServiceLogger, createTelemetry } from '@cdc/telemetry';
import { ProcessorApp } from './app.ts';
import { runtimeCounters, telemetryObserver } from './observer.ts';
import { countTransactions } from './transaction-counter.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' } } });
  if (!values.config) {
    process.stderr.write('usage: processor --config <pipeline.yaml>\n');
    process.exit(2);
  }
  const pipeline = loadPipeline(values.config);
  const logger: Logger = createServiceLogger({
    service: 'processor',
    config: pipeline,
    level: ((process.env.CDC_LOG_LEVEL ?? process.env.LOG_LEVEL) as LogLevel | undefined) ?? 'info',
  });
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
  // /metrics /healthz /readyz: ready while the streams runtime runs (state stores restored).
  const telemetry = createTelemetry({ service: 'processor', config: pipeline.telemetry, logger });
  const observer = telemetryObserver(telemetry, section.applicationId);
  const kafka = countTransactions(createKafka(pipeline.kafka, logger), section.applicationId, observer);
  const app = new ProcessorApp({ section, kafka, registry, logger, observer });
  telemetry.readiness.register('streams', () =>
    app.state === 'running'
      ? { ready: true, detail: `running ${app.assignedTasks.length} task(s)` }
      : { ready: false, detail: app.state === 'failed' ? `failed: ${String(app.error)}` : app.state },
  );
  await telemetry.start();
  const admin = kafka.admin();
  let stopLag = () => {};
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    logger.info('stopping', { signal });
    stopping ??= telemetry
      .shutdown()
      .then(() => app.close())
      .then(() => {
        stopLag();
        return admin.disconnect().catch(() => undefined);
      })
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await app.start();
  await admin.connect();
  const counters = runtimeCounters(telemetry, section.applicationId);
  const counting = setInterval(() => {
    const m = app.runtimeMetrics;
    if (m) counters(m);
  }, 1_000);
  counting.unref();
  const stopPolling = pollGroupLag({
    admin,
    groupId: section.applicationId,
    intervalMs: 5_000,
    report: (lags) => {
      for (const l of lags)
        telemetry.metrics.consumerLag.set(l.lag, {
          group: section.applicationId,
          topic: l.topic,
          partition: l.partition,
        });
    },
    logger,
  });
  stopLag = () => {
    clearInterval(counting);
    stopPolling();
  };
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

/**
 * capture-postgres: the composition root. Loads the pipeline file, makes the logger and the
 * clients, runs one capture per PostgreSQL source (or the one named by --source), and on
 * SIGTERM/SIGINT stops the sources, lets the open Kafka transaction finish or abort (only what
 * committed is acknowledged to the slot) and closes in reverse order.
 *
 *   node services/capture-postgres/dist/main.js --config pipeline.yaml [--source shop]
 */
import { parseArgs } from 'node:util';
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { type LogLevel, systemClock } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { loadPipeline } from '@cdc/pipeline';
import { createServiceLogger, createTelemetry } from '@cdc/telemetry';
import { PostgresCapture } from './capture.ts';
import { telemetryObserver } from './observer.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, source: { type: 'string' } },
  });
  if (!values.config) {
    process.stderr.write('usage: capture-postgres --config <pipeline file> [--source <name>]\n');
    return 2;
  }
  const pipeline = loadPipeline(values.config);
  const sources = pipeline.sources.postgres.filter((s) => !values.source || s.name === values.source);
  const logger = createServiceLogger({
    service: 'capture-postgres',
    config: pipeline,
    level: (process.env.CDC_LOG_LEVEL as LogLevel | undefined) ?? 'info',
  });
  if (sources.length === 0) {
    logger.error(
      values.source ? `no PostgreSQL source named ${values.source}` : 'the pipeline has no PostgreSQL source',
    );
    return 2;
  }
  // Right after a commit the broker answers the next transaction's first request with
  // CONCURRENT_TRANSACTIONS until its markers are written; kafkajs retries it after the initial
  // retry time, so a short one keeps a transaction per source commit cheap.
  const kafka = createKafka(
    {
      ...pipeline.kafka,
      retry: {
        ...pipeline.kafka.retry,
        initialRetryTimeMs: Math.min(pipeline.kafka.retry.initialRetryTimeMs, 25),
      },
    },
    logger,
  );
  // /metrics /healthz /readyz; ready while every source streams (or snapshots) and Kafka answers.
  const telemetry = createTelemetry({ service: 'capture-postgres', config: pipeline.telemetry, logger });
  const kafkaUp = telemetry.readiness.flag('kafka');
  const ready = new Map(sources.map((s) => [s.name, telemetry.readiness.flag(`source ${s.name}`)]));
  await telemetry.start();
  const admin = kafka.admin();
  await admin.connect();
  kafkaUp.set(true, 'connected');
  const registry = new RegistryClient({
    url: pipeline.registry.url,
    ...(pipeline.registry.auth ? { auth: pipeline.registry.auth } : {}),
    logger,
  });
  const serde = new AvroSerde({ registry, logger });
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
        new PostgresCapture({
          source,
          kafka,
          admin,
          serde,
          logger: logger.child({ source: source.name }),
          clock: systemClock,
          observer: telemetryObserver(telemetry, {
            source: source.name,
            slot: source.slot,
            ready: ready.get(source.name)!,
          }),
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
    await telemetry.shutdown().catch(() => undefined);
  }
  logger.info('stopped', { exitCode: code });
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'error', msg: 'capture-postgres failed', err: String(err) })}\n`,
    );
    process.exit(1);
  },
);

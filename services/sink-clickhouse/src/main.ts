/**
 * sink-clickhouse: `node services/sink-clickhouse/dist/main.js --config pipeline.yaml`;
 * `… main.js rebuild <table> --config pipeline.yaml` rebuilds one table from its topics (the
 * sink stopped; see rebuild.ts).
 * The composition root: load the pipeline file, make the logger and the clients, start the
 * sink; on SIGTERM/SIGINT stop consuming, finish and commit the batch in flight, and close in
 * reverse order.
 */
import { parseArgs } from 'node:util';
import { RegistryClient } from '@cdc/avro';
import type { Logger, LogLevel } from '@cdc/core';
import { createKafka, pollGroupLag } from '@cdc/kafka';
import { loadPipeline } from '@cdc/pipeline';
import { createServiceLogger, createTelemetry } from '@cdc/telemetry';
import { telemetryObserver } from './observer.ts';
import { startReadServer } from './read-server/read-server.ts';
import { rebuildTable } from './rebuild.ts';
import { TableManager } from './schema/tables.ts';
import { ClickHouseSink } from './sink.ts';
import { EmbeddedTransport } from './transport/embedded-transport.ts';
import { HttpTransport } from './transport/http-transport.ts';
import type { ClickHouseTransport } from './transport/transport.ts';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { config: { type: 'string' } },
    allowPositionals: true,
  });
  const [command, rebuildName] = positionals;
  if (!values.config || (command !== undefined && (command !== 'rebuild' || !rebuildName))) {
    process.stderr.write(
      'usage: sink-clickhouse --config <pipeline.yaml>\n       sink-clickhouse rebuild <table> --config <pipeline.yaml>\n',
    );
    process.exit(2);
  }
  const pipeline = loadPipeline(values.config);
  const section = pipeline.clickhouse;
  const logger: Logger = createServiceLogger({
    service: 'sink-clickhouse',
    config: pipeline,
    level: ((process.env.CDC_LOG_LEVEL ?? process.env.LOG_LEVEL) as LogLevel | undefined) ?? 'info',
  });
  if (!section) {
    logger.error(
      'the pipeline file has no clickhouse section: add clickhouse.embedded.path or clickhouse.url',
    );
    process.exit(2);
  }
  const transport: ClickHouseTransport =
    'embedded' in section
      ? new EmbeddedTransport(section.embedded.path)
      : new HttpTransport({
          url: section.url,
          username: section.username,
          ...(section.password === undefined ? {} : { password: section.password }),
          requestTimeoutMs: section.requestTimeoutMs,
        });
  const registry = new RegistryClient({
    url: pipeline.registry.url,
    ...(pipeline.registry.auth ? { auth: pipeline.registry.auth } : {}),
    logger,
  });
  const kafka = createKafka(pipeline.kafka, logger);
  const tables = new TableManager(transport, section.database, logger);
  if (command === 'rebuild' && rebuildName) {
    try {
      await rebuildTable({ kafka, registry, transport, tables, options: section.sink, logger }, rebuildName);
    } finally {
      await transport.close();
    }
    process.exit(0);
  }
  // /metrics /healthz /readyz: ready once the consumer runs and while flushes succeed.
  const telemetry = createTelemetry({ service: 'sink-clickhouse', config: pipeline.telemetry, logger });
  const consuming = telemetry.readiness.flag('kafka consumer');
  const writes = telemetry.readiness.flag('clickhouse writes');
  await telemetry.start();
  const sink = new ClickHouseSink({
    kafka,
    registry,
    transport,
    tables,
    options: section.sink,
    logger,
    observer: telemetryObserver(telemetry, { writes }),
  });
  const reads =
    'embedded' in section && section.embedded.http.enabled
      ? await startReadServer({
          path: section.embedded.path,
          database: section.database,
          port: section.embedded.http.port,
          logger,
        })
      : undefined;
  const admin = kafka.admin();
  let stopLag = () => {};
  const close = async () => {
    stopLag();
    await admin.disconnect().catch(() => undefined);
    await reads?.close();
    await transport.close();
    await telemetry.shutdown();
  };
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    logger.info('stopping', { signal });
    consuming.set(false, 'stopping');
    stopping ??= sink.stop().finally(close);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await sink.start();
  consuming.set(true, 'consuming');
  writes.set(true, 'connected');
  await admin.connect();
  const groupId = section.sink.groupId;
  stopLag = pollGroupLag({
    admin,
    groupId,
    topics: () => sink.topics,
    intervalMs: 5_000,
    report: (lags) => {
      for (const l of lags)
        telemetry.metrics.consumerLag.set(l.lag, { group: groupId, topic: l.topic, partition: l.partition });
    },
    logger,
  });
  await sink.done;
  consuming.set(false, 'stopped');
  await (stopping ?? sink.stop().finally(close));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', msg: 'sink-clickhouse failed', err: String((err as Error)?.stack ?? err) })}\n`,
  );
  process.exit(1);
});

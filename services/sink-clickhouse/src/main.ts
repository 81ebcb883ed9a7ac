/**
 * sink-clickhouse: `node services/sink-clickhouse/dist/main.js --config pipeline.yaml`;
 * `… main.js rebuild <table> --config pipeline.yaml` rebuilds one table from its topics (the
 * sink stopped; see rebuild.ts).
 * The composition root: load the pipeline file, make the ClickHouse transport (once per
 * process: the embedded engine allows one per data directory), the registry, the Kafka client
 * and the telemetry wiring, and run the sink as the service runner's unit `sink`: a retriable
 * failure (metadata not yet propagated, a coordinator moving, the broker away) closes the
 * consumer and starts it again from the committed offsets (inserts are idempotent); on
 * SIGTERM/SIGINT it stops consuming, finishes and commits the batch in flight, and closes.
 */
import { RegistryClient } from '@cdc/avro';
import type { ClickHouseTransport } from '@cdc/clickhouse';
import { EmbeddedTransport, HttpTransport } from '@cdc/clickhouse';
import { CdcError } from '@cdc/core';
import { createKafka, isRetriableKafkaError, pollGroupLag } from '@cdc/kafka';
import { knownTopics } from '@cdc/pipeline';
import { runService, type ServiceUnit } from '@cdc/service';
import { telemetryObserver } from './observer.ts';
import { startReadServer } from './read-server/read-server.ts';
import { rebuildTable } from './rebuild.ts';
import { TableManager } from './schema/tables.ts';
import { ClickHouseSink } from './sink.ts';

// A rebuild serves its telemetry on an ephemeral port: it never collides with a running service.
if (process.argv.includes('rebuild')) process.env.CDC__TELEMETRY__HTTP__PORT = '0';

runService({
  service: 'sink-clickhouse',
  usage:
    'sink-clickhouse --config <pipeline.yaml>\n       sink-clickhouse rebuild <table> --config <pipeline.yaml>',
  allowPositionals: true,
  setup: async ({ pipeline, args, logger, telemetry, clock, signal, onClose }): Promise<ServiceUnit[]> => {
    const [command, rebuildName] = args.positionals;
    if (command !== undefined && (command !== 'rebuild' || !rebuildName))
      throw new CdcError('CONFIG_INVALID', `unknown arguments: ${args.positionals.join(' ')}`);
    const section = pipeline.clickhouse;
    if (!section)
      throw new CdcError(
        'CONFIG_INVALID',
        'the pipeline file has no clickhouse section: add clickhouse.embedded.path or clickhouse.url',
      );
    let transport: ClickHouseTransport;
    try {
      transport =
        'embedded' in section
          ? await EmbeddedTransport.open(section.embedded.path, { logger, clock, signal })
          : new HttpTransport({
              url: section.url,
              username: section.username,
              ...(section.password === undefined ? {} : { password: section.password }),
              requestTimeoutMs: section.requestTimeoutMs,
            });
    } catch (err) {
      // Stopped while waiting for the embedded directory's lock: nothing to run.
      if (signal.aborted) return [];
      throw err;
    }
    onClose(() => transport.close());
    const registry = new RegistryClient({ ...pipeline.registry, logger }); // url, auth, ca
    const kafka = createKafka(pipeline.kafka, logger);
    const tables = new TableManager(transport, section.database, logger, {
      droppedColumns: section.sink.droppedColumns,
    });
    /** What the sink and a rebuild of one of its tables are made of. */
    const deps = {
      kafka,
      registry,
      transport,
      tables,
      options: section.sink,
      logger,
      clock,
      known: knownTopics(pipeline),
    };
    if (rebuildName) {
      return [
        {
          name: `rebuild ${rebuildName}`,
          attempt: async () => {
            await rebuildTable(deps, rebuildName);
          },
          retriable: () => false,
        },
      ];
    }
    if ('embedded' in section && section.embedded.http.enabled) {
      const reads = await startReadServer({
        path: section.embedded.path,
        database: section.database,
        port: section.embedded.http.port,
        logger,
      });
      onClose(() => reads.close());
    }
    // /readyz: ready once the consumer runs and while flushes succeed.
    const consuming = telemetry.readiness.flag('kafka consumer');
    const writes = telemetry.readiness.flag('clickhouse writes');
    const observer = telemetryObserver(telemetry, { writes, deadLetterTopic: section.sink.deadLetterTopic });
    const groupId = section.sink.groupId;
    return [
      {
        name: 'sink',
        attempt: async (signal: AbortSignal) => {
          const sink = new ClickHouseSink({ ...deps, observer });
          const admin = kafka.admin();
          let stopLag = () => {};
          let stopping: Promise<void> | undefined;
          const stop = () => {
            consuming.set(false, 'stopping');
            stopping ??= sink.stop();
            return stopping;
          };
          signal.addEventListener('abort', stop, { once: true });
          try {
            await sink.start();
            consuming.set(true, 'consuming');
            writes.set(true, 'connected');
            await admin.connect();
            stopLag = pollGroupLag({
              admin,
              groupId,
              topics: () => sink.topics,
              intervalMs: 5_000,
              report: (lags) => {
                for (const l of lags)
                  telemetry.metrics.consumerLag.set(Number(l.lag), {
                    group: groupId,
                    topic: l.topic,
                    partition: l.partition,
                  });
              },
              logger,
            });
            // Ends when stopped, or with the error of a flush that cannot be retried.
            await sink.done;
            if (!signal.aborted)
              throw new CdcError('INVARIANT_VIOLATED', 'the sink stopped consuming without being asked to');
          } finally {
            signal.removeEventListener('abort', stop);
            stopLag();
            consuming.set(false, signal.aborted ? 'stopped' : 'restarting');
            await stop();
            await admin.disconnect().catch(() => undefined);
          }
        },
        retriable: isRetriableKafkaError,
      },
    ];
  },
});

/**
 * capture-postgres: the composition root. Loads the pipeline file, makes the Kafka client, the
 * registry serde and the telemetry wiring, and runs one capture per PostgreSQL source (or the
 * one named by --source) as a unit of the service runner: a retriable failure restarts that
 * source's session from what Kafka committed; on SIGTERM/SIGINT each session lets its open Kafka
 * transaction finish or abort (only what committed is acknowledged to the slot).
 *
 *   node services/capture-postgres/dist/main.js --config pipeline.yaml [--source shop]
 */
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { deadLetterTopic } from '@cdc/capture';
import { CdcError } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { runService } from '@cdc/service';
import { PostgresCapture, shouldRestart } from './capture.ts';
import { telemetryObserver } from './observer.ts';

runService({
  service: 'capture-postgres',
  usage: 'capture-postgres --config <pipeline file> [--source <name>]',
  options: { source: { type: 'string' } },
  setup: ({ pipeline, args, logger, telemetry, clock, onClose }) => {
    const only = args.values.source as string | undefined;
    const sources = pipeline.sources.postgres.filter((s) => !only || s.name === only);
    if (sources.length === 0)
      throw new CdcError(
        'CONFIG_INVALID',
        only ? `no PostgreSQL source named ${only}` : 'the pipeline has no PostgreSQL source',
      );
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
    const admin = kafka.admin();
    onClose(() => admin.disconnect());
    const registry = new RegistryClient({ ...pipeline.registry, logger }); // url, auth, ca
    const serde = new AvroSerde({ registry, logger });
    // /readyz: ready while every source streams (or snapshots).
    return sources.map((source) => {
      const capture = new PostgresCapture({
        source,
        configPath: `sources.postgres[${pipeline.sources.postgres.indexOf(source)}]`,
        kafka,
        admin,
        serde,
        logger: logger.child({ source: source.name }),
        clock,
        signalTopic: pipeline.control.signalTopic,
        observer: telemetryObserver(telemetry, {
          source: source.name,
          slot: source.slot,
          ready: telemetry.readiness.flag(`source ${source.name}`),
          deadLetterTopic: deadLetterTopic(source.topicPrefix ?? source.name),
        }),
      });
      return {
        name: `source ${source.name}`,
        attempt: async (signal: AbortSignal) => {
          await admin.connect();
          await capture.attempt(signal);
        },
        retriable: shouldRestart,
      };
    });
  },
});

/**
 * processor: `node services/processor/dist/main.js --config pipeline.yaml`.
 * The composition root: load the pipeline file, make the Kafka client, the registry and the
 * telemetry wiring, and run the topology built from the `processing` declarations as the
 * service runner's unit `streams`: a retriable failure (metadata not yet propagated, a
 * coordinator moving, a rebalance, the broker away) closes the runtime and starts it again from
 * the committed offsets and changelogs; on SIGTERM/SIGINT it stops consuming, finishes or aborts
 * the open transactions, checkpoints the stores and closes.
 */
import { RegistryClient } from '@cdc/avro';
import { CdcError } from '@cdc/core';
import { createKafka, isFencedError, isRetriableKafkaError, pollGroupLag } from '@cdc/kafka';
import { runService } from '@cdc/service';
import { ProcessorApp } from './app.ts';
import { runtimeCounters, telemetryObserver } from './observer.ts';
import { countTransactions } from './transaction-counter.ts';

runService({
  service: 'processor',
  usage: 'processor --config <pipeline.yaml>',
  setup: ({ pipeline, logger, telemetry, clock }) => {
    const section = pipeline.processing;
    if (!section || section.aggregate.length === 0)
      throw new CdcError(
        'CONFIG_INVALID',
        'the pipeline file declares no processing: add processing.aggregate (see libs/pipeline/src/sections/processing.ts)',
      );
    const registry = new RegistryClient({ ...pipeline.registry, logger }); // url, auth, ca
    const observer = telemetryObserver(telemetry, section.applicationId);
    const kafka = countTransactions(createKafka(pipeline.kafka, logger), section.applicationId, observer);
    const counters = runtimeCounters(telemetry, section.applicationId);
    let app: ProcessorApp | undefined;
    // /readyz: ready while the streams runtime runs (state stores restored).
    telemetry.readiness.register('streams', () =>
      app?.state === 'running'
        ? { ready: true, detail: `running ${app.assignedTasks.length} task(s)` }
        : { ready: false, detail: app?.state ?? 'starting' },
    );
    return [
      {
        name: 'streams',
        attempt: async (signal: AbortSignal) => {
          const current = new ProcessorApp({ section, kafka, registry, logger, observer, clock });
          app = current;
          const admin = kafka.admin();
          const stops: (() => void)[] = [];
          try {
            await current.start();
            await admin.connect();
            const counting = setInterval(() => {
              const m = current.runtimeMetrics;
              if (m) counters(m);
            }, 1_000);
            stops.push(() => clearInterval(counting));
            stops.push(
              pollGroupLag({
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
              }),
            );
            logger.info('processor running', {
              aggregates: section.aggregate.map((a) => a.name),
              queries: current.queryUrl,
            });
            // The streams runtime fails loudly and stays failed: this attempt ends with its error.
            while (!signal.aborted && current.state !== 'failed')
              await clock.sleep(250, signal).catch(() => undefined);
            if (current.state === 'failed') throw current.error;
          } finally {
            for (const stop of stops) stop();
            await current.close();
            await admin.disconnect().catch(() => undefined);
          }
        },
        // State is rebuilt from Kafka (changelogs, committed offsets) on every start, so any
        // passing Kafka condition is worth a new attempt; fencing too: a rebalance moved a task's
        // transactional id to a newer producer, and a new attempt rejoins the group.
        retriable: (err: unknown) => isRetriableKafkaError(err) || isFencedError(err),
      },
    ];
  },
});

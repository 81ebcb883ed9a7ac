/**
 * processor: `node services/processor/dist/main.js --config pipeline.yaml` (`main.ts` loads this
 * module once Node's compile cache is on). The composition root: load the pipeline file, make the Kafka client, the registry and the
 * telemetry wiring, and run the topology built from the `processing` declarations as the
 * service runner's unit `streams`: a retriable failure (metadata not yet propagated, a
 * coordinator moving, a rebalance, the broker away) closes the runtime and starts it again from
 * the committed offsets and changelogs; on SIGTERM/SIGINT it stops consuming, finishes or aborts
 * the open transactions, checkpoints the stores and closes.
 */
import { RegistryClient } from '@cdc/avro';
import { CdcError, isRetriable, type LogLevel } from '@cdc/core';
import { createKafka, isFencedError, isRetriableKafkaError, pollGroupLag } from '@cdc/kafka';
import { runService } from '@cdc/service';
import { missingInputsMessage, missingInputTopics, ProcessorApp } from './app.ts';
import { restoreProgress, runtimeCounters, telemetryObserver } from './observer.ts';
import { StreamThreads, type ThreadReport } from './threads.ts';
import { countTransactions } from './transaction-counter.ts';

runService({
  service: 'processor',
  usage: 'processor --config <pipeline.yaml>',
  setup: ({ pipeline, logger, telemetry, clock }) => {
    const level = ((process.env.CDC_LOG_LEVEL ?? process.env.LOG_LEVEL) as LogLevel | undefined) ?? 'info';
    const section = pipeline.processing;
    if (!section || section.aggregate.length === 0)
      throw new CdcError(
        'CONFIG_INVALID',
        'the pipeline file declares no processing: add processing.aggregate (see libs/pipeline/src/sections/processing.ts)',
      );
    const registry = new RegistryClient({ ...pipeline.registry, logger }); // url, auth, ca
    const observer = telemetryObserver(telemetry, section.applicationId);
    const kafka = countTransactions(createKafka(pipeline.kafka, logger), section.applicationId, observer);
    const restores = restoreProgress(telemetry);
    const counters = runtimeCounters(telemetry, section.applicationId, (r) => restores(0, r));
    // The other threads' counts, as the main thread's observer would have made them.
    const threadCounters = new Map<number, ReturnType<typeof runtimeCounters>>();
    const fromThread = (index: number, r: ThreadReport) => {
      for (const [topic, n] of r.read) telemetry.metrics.recordsIn.add(n, { stage: 'process', topic });
      for (const c of r.committed) observer.committed(new Map(c.perTopic), c.total);
      for (let i = 0; i < r.aborted; i++) observer.aborted();
      if (r.metrics) {
        const count =
          threadCounters.get(index) ??
          runtimeCounters(telemetry, section.applicationId, (p) => restores(index, p));
        threadCounters.set(index, count);
        count(r.metrics);
      }
    };
    let app: ProcessorApp | undefined;
    let threads: StreamThreads | undefined;
    /** The input topics not created yet, while the processor waits for them. */
    let waitingFor: string[] = [];
    /**
     * Waits until every input topic exists, checking each second, and says which it waits for
     * (at once, then every 30 s): services start in any order, and a capture creates a table's
     * topic only once it captures it. False when stopped meanwhile.
     */
    const inputTopicsExist = async (signal: AbortSignal): Promise<boolean> => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        let said = Number.NEGATIVE_INFINITY;
        for (;;) {
          waitingFor = await missingInputTopics(admin, section);
          if (waitingFor.length === 0) return true;
          if (signal.aborted) return false;
          if (clock.now() - said >= 30_000) {
            logger.warn(`waiting: ${missingInputsMessage(waitingFor)}`, { missing: waitingFor });
            said = clock.now();
          }
          await clock.sleep(1_000, signal).catch(() => undefined);
        }
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    };
    // /readyz: ready while the streams runtime runs (state stores restored) on every thread.
    telemetry.readiness.register('streams', () => {
      if (waitingFor.length > 0)
        return { ready: false, detail: `waiting for input topics: ${waitingFor.join(', ')}` };
      if (app?.state !== 'running') return { ready: false, detail: app?.state ?? 'starting' };
      if (threads && !threads.running) return { ready: false, detail: 'stream threads starting' };
      const tasks = app.assignedTasks.length + (threads?.tasks.length ?? 0);
      return { ready: true, detail: `running ${tasks} task(s) on ${section.threads} thread(s)` };
    });
    return [
      {
        name: 'streams',
        attempt: async (signal: AbortSignal) => {
          if (!(await inputTopicsExist(signal))) return;
          const extra =
            section.threads > 1
              ? new StreamThreads({
                  pipeline,
                  count: section.threads - 1,
                  level,
                  logger,
                  onReport: fromThread,
                })
              : undefined;
          threads = extra;
          const current = new ProcessorApp({
            section,
            kafka,
            registry,
            logger,
            observer,
            clock,
            ...(extra ? { beforeJoin: () => extra.joinTogether() } : {}),
          });
          app = current;
          let threadFailure: unknown;
          extra?.failure.catch((err: unknown) => {
            threadFailure = err;
          });
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
                    telemetry.metrics.consumerLag.set(Number(l.lag), {
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
            while (!signal.aborted && current.state !== 'failed' && threadFailure === undefined)
              await clock.sleep(250, signal).catch(() => undefined);
            if (current.state === 'failed') throw current.error;
            if (threadFailure !== undefined) throw threadFailure;
          } finally {
            for (const stop of stops) stop();
            await Promise.all([current.close(), extra?.close()]);
            await admin.disconnect().catch(() => undefined);
          }
        },
        // State is rebuilt from Kafka (changelogs, committed offsets) on every start, so any
        // passing Kafka condition is worth a new attempt; fencing too: a rebalance moved a task's
        // transactional id to a newer producer, and a new attempt rejoins the group.
        retriable: (err: unknown) => isRetriableKafkaError(err) || isFencedError(err) || isRetriable(err),
      },
    ];
  },
});

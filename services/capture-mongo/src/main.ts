/**
 * capture-mongo: the composition root. Loads the pipeline file, makes the Kafka client, the
 * registry serde and the telemetry wiring, and runs one capture per MongoDB source (or the one
 * named by --source) as a unit of the service runner: a retriable failure restarts that source's
 * session from the committed resume token; on SIGTERM/SIGINT each session writes what is
 * buffered with its resume token in a last Kafka transaction (or lets it abort).
 *
 *   node services/capture-mongo/dist/main.js --config pipeline.yaml [--source shop]
 */
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { deadLetterTopic } from '@cdc/capture';
import { CdcError } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import { runService } from '@cdc/service';
import { MongoCapture, shouldRestart } from './capture.ts';
import { telemetryObserver } from './observer.ts';

runService({
  service: 'capture-mongo',
  usage: 'capture-mongo --config <pipeline file> [--source <name>]',
  options: { source: { type: 'string' } },
  setup: ({ pipeline, args, logger, telemetry, clock, onClose }) => {
    const only = args.values.source as string | undefined;
    const sources = pipeline.sources.mongo.filter((s) => !only || s.name === only);
    if (sources.length === 0)
      throw new CdcError(
        'CONFIG_INVALID',
        only ? `no MongoDB source named ${only}` : 'the pipeline has no MongoDB source',
      );
    const kafka = createKafka(pipeline.kafka, logger);
    const admin = kafka.admin();
    onClose(() => admin.disconnect());
    const registry = new RegistryClient({ ...pipeline.registry, logger }); // url, auth, ca
    // Inferred MongoDB schemas write their unions wrapped (an integral double must keep its branch).
    const serde = new AvroSerde({ registry, logger, wrapUnions: true });
    // /readyz: ready while every source snapshots or streams.
    return sources.map((source) => {
      const capture = new MongoCapture({
        source,
        configPath: `sources.mongo[${pipeline.sources.mongo.indexOf(source)}]`,
        kafka,
        admin,
        serde,
        logger: logger.child({ source: source.name }),
        clock,
        signalTopic: pipeline.control.signalTopic,
        observer: telemetryObserver(telemetry, {
          source: source.name,
          offsetsTopic: source.offsetsTopic,
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

/**
 * `captureMain`: the composition root every capture service shares. Loads the pipeline file
 * (through the service runner), makes the Kafka client, the registry serde and the telemetry
 * wiring, and runs one capture per source of its kind (or the one named by `--source`) as a
 * unit of the service runner: a retriable failure restarts that source's session from what
 * Kafka committed; on SIGTERM/SIGINT each session lets its open Kafka transaction finish or
 * abort, then the admin client closes, then telemetry (the runner's one shutdown order).
 *
 *   captureMain({ service: 'capture-postgres', kind: 'postgres', label: 'PostgreSQL',
 *     create: (options) => new PostgresCapture(options) });
 */
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { CdcError } from '@cdc/core';
import { createKafka } from '@cdc/kafka';
import type { MongoSource, PostgresSource } from '@cdc/pipeline';
import { runService } from '@cdc/service';
import type { CaptureOptions } from './connector.ts';
import { deadLetterTopic } from './dead-letter.ts';
import { type TelemetryObserverOptions, telemetryObserver } from './observer.ts';

interface Sources {
  postgres: PostgresSource;
  mongo: MongoSource;
}

/** What `captureMain` runs per source: one session at a time, restarted by the service runner. */
export interface CaptureUnit {
  attempt(signal: AbortSignal): Promise<void>;
  retriable(err: unknown): boolean;
}

export interface CaptureMainOptions<K extends keyof Sources> {
  /** The service's name (logs, metrics): `capture-postgres`. */
  service: string;
  /** Which sources of the pipeline file it captures. */
  kind: K;
  /** The source system's name in messages: `PostgreSQL`. */
  label: string;
  /** Inferred schemas write their unions wrapped (MongoDB). */
  wrapUnions?: boolean;
  /** More of the observer's settings for a source (the slot's name, uncounted topics). */
  observer?: (source: Sources[K]) => Partial<TelemetryObserverOptions>;
  create(options: CaptureOptions<Sources[K]> & { serde: AvroSerde }): CaptureUnit;
}

export function captureMain<K extends keyof Sources>(o: CaptureMainOptions<K>): void {
  runService({
    service: o.service,
    usage: `${o.service} --config <pipeline file> [--source <name>]`,
    options: { source: { type: 'string' } },
    setup: ({ pipeline, args, logger, telemetry, clock, onClose }) => {
      const only = args.values.source as string | undefined;
      const all = pipeline.sources[o.kind] as Sources[K][];
      const sources = all.filter((s) => !only || s.name === only);
      if (sources.length === 0)
        throw new CdcError(
          'CONFIG_INVALID',
          only ? `no ${o.label} source named ${only}` : `the pipeline has no ${o.label} source`,
        );
      const kafka = createKafka(pipeline.kafka, logger);
      const admin = kafka.admin();
      onClose(() => admin.disconnect());
      const registry = new RegistryClient({ ...pipeline.registry, logger }); // url, auth, ca
      const serde = new AvroSerde({ registry, logger, ...(o.wrapUnions ? { wrapUnions: true } : {}) });
      // /readyz: ready while every source snapshots or streams.
      return sources.map((source) => {
        const capture = o.create({
          source,
          configPath: `sources.${o.kind}[${all.indexOf(source)}]`,
          kafka,
          admin,
          serde,
          logger: logger.child({ source: source.name }),
          clock,
          ...(pipeline.control.signalTopic === undefined
            ? {}
            : { signalTopic: pipeline.control.signalTopic }),
          observer: telemetryObserver(telemetry, {
            source: source.name,
            ready: telemetry.readiness.flag(`source ${source.name}`),
            deadLetterTopic: deadLetterTopic(source.topicPrefix ?? source.name),
            clock,
            ...o.observer?.(source),
          }),
        });
        return {
          name: `source ${source.name}`,
          attempt: async (signal: AbortSignal) => {
            await admin.connect();
            await capture.attempt(signal);
          },
          retriable: (err: unknown) => capture.retriable(err),
        };
      });
    },
  });
}

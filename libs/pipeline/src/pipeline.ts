import { DEFAULT_OFFSETS_TOPIC, type KnownTopics, loadConfig } from '@cdc/core';
import { KafkaConfigSchema } from '@cdc/kafka';
import { z } from 'zod';
import { ClickHouseSectionSchema } from './sections/clickhouse.ts';
import { ControlSectionSchema } from './sections/control.ts';
import { MongoSourceSchema } from './sections/mongo-source.ts';
import { PostgresSourceSchema } from './sections/postgres-source.ts';
import { ProcessingSectionSchema } from './sections/processing.ts';
import { RegistrySectionSchema } from './sections/registry.ts';
import { RestartSectionSchema } from './sections/restart.ts';
import { TelemetrySectionSchema } from './sections/telemetry.ts';

/**
 * The pipeline file. Every service reads the whole file (plus `CDC__…` environment overrides
 * and `${VAR}` references, see `loadConfig`) and uses its own sections. Each section's schema
 * lives in `sections/`, next to nothing else, so a service's options stay in one place.
 */
export const PipelineSchema = z
  .strictObject({
    kafka: KafkaConfigSchema.meta({ description: 'How every service reaches Kafka, the event log.' }),
    registry: RegistrySectionSchema.meta({
      description: "The Confluent-compatible schema registry that holds the topics' Avro schemas.",
    }),
    sources: z
      .strictObject({
        postgres: z.array(PostgresSourceSchema).default([]).meta({
          description:
            'PostgreSQL databases, each captured by logical replication (pgoutput) into its own topics.',
        }),
        mongo: z
          .array(MongoSourceSchema)
          .default([])
          .meta({ description: 'MongoDB deployments, each captured by change streams into its own topics.' }),
      })
      .prefault({})
      .meta({ description: 'The databases to capture, by kind.' }),
    clickhouse: ClickHouseSectionSchema.optional().meta({
      description:
        'The ClickHouse target of the sink: the embedded engine (`embedded`) or a server (`url`); without it no sink runs.',
    }),
    processing: ProcessingSectionSchema.optional().meta({
      description:
        'Enrichment joins and windowed aggregates run by the processor; without it no processor runs.',
    }),
    telemetry: TelemetrySectionSchema.prefault({}).meta({
      description: 'Metrics, health and readiness endpoints, and optional OTLP export, of every service.',
    }),
    restart: RestartSectionSchema.prefault({}).meta({
      description: 'How every service retries a retriable failure before it gives up.',
    }),
    control: ControlSectionSchema.prefault({}).meta({
      description:
        'The control service: its HTTP API and web console, API tokens with roles, the signal and audit topics.',
    }),
  })
  .superRefine((p, ctx) => {
    const names = [...p.sources.postgres, ...p.sources.mongo].map((s) => s.name);
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources'],
          message: `two sources are named ${n}: names must be unique (they prefix topics)`,
        });
      }
    });
  });

export type Pipeline = z.output<typeof PipelineSchema>;

/** Reads and validates a pipeline file; throws `CONFIG_INVALID` naming every bad key. */
export function loadPipeline(file: string, env: NodeJS.ProcessEnv = process.env): Pipeline {
  return loadConfig(PipelineSchema, { file, env });
}

/** The topic names this pipeline gives beyond the conventions of `topicKind` (`@cdc/core`). */
export function knownTopics(pipeline: Pipeline): KnownTopics {
  const sources = [...pipeline.sources.postgres, ...pipeline.sources.mongo];
  return {
    offsetsTopics: [...new Set([DEFAULT_OFFSETS_TOPIC, ...sources.map((s) => s.offsetsTopic)])],
    signalTopics: [pipeline.control.signalTopic],
  };
}

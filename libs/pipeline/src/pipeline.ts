import { loadConfig } from '@cdc/core';
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
    kafka: KafkaConfigSchema,
    registry: RegistrySectionSchema,
    sources: z
      .strictObject({
        postgres: z.array(PostgresSourceSchema).default([]),
        mongo: z.array(MongoSourceSchema).default([]),
      })
      .prefault({}),
    clickhouse: ClickHouseSectionSchema.optional(),
    processing: ProcessingSectionSchema.optional(),
    telemetry: TelemetrySectionSchema.prefault({}),
    restart: RestartSectionSchema.prefault({}),
    control: ControlSectionSchema.prefault({}),
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

import { resolve } from 'node:path';
import { loadPipeline } from '@cdc/pipeline';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

describe('the compose pipeline (infra/pipelines/compose.yaml)', () => {
  it('processes and sinks what the demo pipeline does, reading its secrets from the environment', () => {
    const demo = loadPipeline(resolve(root, 'infra/pipelines/demo.yaml'), { CDC_DEMO_DB: 'cdc' });
    const compose = loadPipeline(resolve(root, 'infra/pipelines/compose.yaml'), {
      POSTGRES_PASSWORD: 'pg-secret',
      CLICKHOUSE_PASSWORD: 'ch-secret',
    });
    expect(compose.processing?.enrich).toEqual(demo.processing?.enrich);
    expect(compose.processing?.aggregate).toEqual(demo.processing?.aggregate);
    expect(compose.clickhouse?.sink.topics).toEqual(demo.clickhouse?.sink.topics);
    expect(compose.sources.postgres.map((s) => s.name)).toEqual(demo.sources.postgres.map((s) => s.name));
    expect(compose.sources.mongo.map((s) => s.include)).toEqual(demo.sources.mongo.map((s) => s.include));
    expect(compose.sources.postgres[0]?.connection.password).toBe('pg-secret');
    expect(compose.clickhouse && 'password' in compose.clickhouse ? compose.clickhouse.password : '').toBe(
      'ch-secret',
    );
    expect(compose.telemetry.http).toEqual({ host: '0.0.0.0', port: 9464 });
  });
});

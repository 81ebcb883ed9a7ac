import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { printableConfig } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { loadPipeline } from './pipeline.ts';

const local = resolve(import.meta.dirname, '../../../infra/pipelines/local.yaml');

function file(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'cdc-pipeline-')), 'pipeline.yaml');
  writeFileSync(f, text);
  return f;
}

describe('loadPipeline', () => {
  it('reads the local pipeline with defaults filled and ports from the environment', () => {
    const p = loadPipeline(local, { CDC_STACK_KAFKA_PORT: '29092', PGPASSWORD: 's3cret' });
    expect(p.kafka.brokers).toEqual(['127.0.0.1:29092']);
    expect(p.sources.postgres[0]).toMatchObject({
      name: 'shop',
      slot: 'cdc_shop',
      include: [],
      connection: { port: 15432, password: 's3cret', ssl: false },
    });
    expect(p.sources.mongo[0]).toMatchObject({
      name: 'shopdocs',
      fullDocument: 'updateLookup',
      snapshot: 'initial',
    });
    expect(p.clickhouse).toMatchObject({
      embedded: { path: '.stack/data/clickhouse-embedded' },
      database: 'cdc',
    });
    expect(printableConfig(p)).not.toContain('s3cret');
  });

  it('names every bad key of a broken file', () => {
    const f = file(
      [
        'kafka: { brokers: [kafka] }',
        'registry: { url: not-a-url }',
        'sources:',
        '  postgres:',
        '    - { name: "bad name", connection: { database: shop, user: cdc }, slot: Bad-Slot, snapshot: sometimes }',
      ].join('\n'),
    );
    let message = '';
    try {
      loadPipeline(f, {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(`invalid config in ${f}`);
    for (const key of [
      'kafka.brokers.0',
      'registry.url',
      'sources.postgres.0.name',
      'sources.postgres.0.slot',
      'sources.postgres.0.snapshot',
    ]) {
      expect(message).toContain(`${key}: `);
    }
  });

  it('refuses two sources with one name, since names prefix topics', () => {
    const f = file(
      [
        'kafka: { brokers: ["k:9092"] }',
        'registry: { url: "http://r:8081" }',
        'sources:',
        '  postgres: [{ name: shop, connection: { database: shop, user: cdc } }]',
        '  mongo: [{ name: shop, uri: "mongodb://m:27017" }]',
      ].join('\n'),
    );
    expect(() => loadPipeline(f, {})).toThrow(/two sources are named shop/);
  });

  it('has a 64 MiB record limit per source by default and refuses one the broker cannot carry', () => {
    const yaml = (pg: string) =>
      file(
        [
          'kafka: { brokers: ["k:9092"] }',
          'registry: { url: "http://r:8081" }',
          'sources:',
          `  postgres: [{ name: shop, connection: { database: shop, user: cdc }${pg} }]`,
          '  mongo: [{ name: docs, uri: "mongodb://m:27017" }]',
        ].join('\n'),
      );
    const p = loadPipeline(yaml(''), {});
    expect(p.sources.postgres[0]!.maxRecordBytes).toBe(64 * 1024 * 1024);
    expect(p.sources.mongo[0]!.maxRecordBytes).toBe(64 * 1024 * 1024);
    expect(loadPipeline(yaml(', maxRecordBytes: 8388608'), {}).sources.postgres[0]!.maxRecordBytes).toBe(
      8_388_608,
    );
    expect(() => loadPipeline(yaml(', maxRecordBytes: 200000000'), {})).toThrow(
      /sources\.postgres\.0\.maxRecordBytes: .*at most 100663296 \(96 MiB\).*socket\.request\.max\.bytes/,
    );
    expect(() => loadPipeline(yaml(', maxRecordBytes: 1000'), {})).toThrow(
      /maxRecordBytes: .*at least 65536/,
    );
  });
});

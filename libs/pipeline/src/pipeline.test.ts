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

  describe('unknown keys', () => {
    const base = [
      'kafka: { brokers: ["k:9092"] }',
      'registry: { url: "http://r:8081" }',
      'sources:',
      '  postgres: [{ name: shop, connection: { database: shop, user: cdc } }]',
      '  mongo: [{ name: docs, uri: "mongodb://m:27017" }]',
      'clickhouse:',
      '  embedded: { path: /tmp/x }',
      '  sink: { groupId: g }',
    ];
    const messageOf = (lines: string[], env: NodeJS.ProcessEnv = {}) => {
      try {
        loadPipeline(file(lines.join('\n')), env);
      } catch (err) {
        return (err as Error).message;
      }
      return 'loaded';
    };

    it('loads the file without the typo', () => {
      expect(messageOf(base)).toBe('loaded');
    });

    it('names a typo at the top level and the key meant', () => {
      expect(messageOf([...base, 'regsitry: { url: "http://r:8081" }'])).toContain(
        'regsitry: unknown key; did you mean registry?',
      );
    });

    it('names a typo deep in the ClickHouse sink (inside the embedded/server union)', () => {
      const lines = base.map((l) =>
        l.includes('sink:') ? '  sink: { groupId: g, bacth: { maxRows: 10 } }' : l,
      );
      expect(messageOf(lines)).toContain('clickhouse.sink.bacth: unknown key; did you mean batch?');
    });

    it('names a typo three levels down', () => {
      const lines = base.map((l) =>
        l.includes('sink:') ? '  sink: { groupId: g, batch: { maxRow: 10 } }' : l,
      );
      expect(messageOf(lines)).toContain('clickhouse.sink.batch.maxRow: unknown key; did you mean maxRows?');
    });

    it('names a typo in a source of a list, with its index', () => {
      const lines = base.map((l) =>
        l.includes('postgres:')
          ? '  postgres: [{ name: shop, connection: { database: shop, user: cdc, pasword: x } }]'
          : l,
      );
      expect(messageOf(lines)).toContain(
        'sources.postgres.0.connection.pasword: unknown key; did you mean password?',
      );
    });

    it('names a typo in the Kafka section', () => {
      expect(
        messageOf(
          base.map((l) => (l.startsWith('kafka:') ? 'kafka: { brokers: ["k:9092"], clientID: x }' : l)),
        ),
      ).toContain('kafka.clientID: unknown key; did you mean clientId?');
    });

    it('lists the valid keys when nothing is close', () => {
      expect(messageOf([...base.slice(0, 2), 'registry2: {}', ...base.slice(2)])).toMatch(
        /registry2: unknown key; (did you mean registry\?|valid keys here: .*registry)/,
      );
      expect(messageOf([...base, 'zzzzzzzz: 1'])).toMatch(
        /zzzzzzzz: unknown key; valid keys here: kafka, registry/,
      );
    });

    it('names the environment variable that brought an unknown key', () => {
      expect(messageOf(base, { CDC__CLICKHOUSE__SINK__BACTH: '{ maxRows: 10 }' })).toContain(
        'clickhouse.sink.bacth: unknown key; did you mean batch? (set by CDC__CLICKHOUSE__SINK__BACTH)',
      );
    });
  });

  it('loads every pipeline file of infra/pipelines', async () => {
    const { readdirSync } = await import('node:fs');
    const dir = resolve(import.meta.dirname, '../../../infra/pipelines');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    const env = {
      PGPASSWORD: 'x',
      POSTGRES_PASSWORD: 'x',
      CLICKHOUSE_PASSWORD: 'x',
      CDC_DEMO_DB: 'demo',
      MONGO_PASSWORD: 'x',
      // The chart's secrets: hashes of the control API's tokens.
      CDC_CONTROL_ADMIN_SHA256: 'a'.repeat(64),
      CDC_CONTROL_VIEWER_SHA256: 'b'.repeat(64),
    };
    for (const f of files) expect(() => loadPipeline(join(dir, f), env), f).not.toThrow();
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const values = parse(readFileSync(resolve(dir, '../helm/cdc/values.yaml'), 'utf8')) as {
      pipeline: string;
    };
    expect(() => loadPipeline(file(values.pipeline), env), 'helm values pipeline').not.toThrow();
  });

  it('a loaded pipeline, written back (as test harnesses do), loads again under the strict schema', () => {
    const env = { PGPASSWORD: 'x', CDC_DEMO_DB: 'demo' };
    for (const f of ['local.yaml', 'demo.yaml']) {
      const p = loadPipeline(resolve(local, '..', f), env);
      const again = file(JSON.stringify(p));
      expect(loadPipeline(again, {})).toEqual(p);
    }
  });
});

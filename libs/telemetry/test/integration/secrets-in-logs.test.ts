/**
 * Secrets given to a service through its pipeline file never reach a log line or an HTTP answer:
 * a service-like composition root loads the file, logs its config, fails with error texts that
 * quote connection strings, exports OTLP to a collector that is down, and serves /readyz with a
 * failing check; then every emitted line is searched for every secret.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdcError, printableConfig } from '@cdc/core';
import { loadPipeline } from '@cdc/pipeline';
import { describe, expect, it } from 'vitest';
import { createServiceLogger } from '../../src/service-logger.ts';
import { createTelemetry } from '../../src/telemetry.ts';
import { withSpan } from '../../src/tracing.ts';

const SECRETS = {
  KAFKA_PASSWORD: 'kafka-Sup3r-secret',
  PG_PASSWORD: 'pg-p4ss-W0rd',
  MONGO_PASSWORD: 'mongo-hunter2-x',
  REGISTRY_PASSWORD: 'registry-s3cr3t',
  CLICKHOUSE_PASSWORD: 'ch-pa55word',
  OTLP_API_KEY: 'otlp-key-4b1d',
};

/** A 127.0.0.1 port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('secrets from the pipeline file', () => {
  it('appear in no log line and no /readyz answer', async () => {
    const collector = await closedPort();
    const dir = mkdtempSync(join(tmpdir(), 'cdc-secrets-'));
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(
      file,
      [
        'kafka:',
        '  brokers: ["127.0.0.1:19092"]',
        '  ssl: true',
        '  sasl: { mechanism: scram-sha-512, username: cdc, password: "${KAFKA_PASSWORD}" }',
        'registry:',
        '  url: "https://127.0.0.1:18081/apis/ccompat/v7"',
        '  auth: { username: cdc, password: "${REGISTRY_PASSWORD}" }',
        'sources:',
        '  postgres:',
        '    - name: shop',
        '      connection: { host: 127.0.0.1, database: shop, user: cdc, password: "${PG_PASSWORD}" }',
        '  mongo:',
        '    - name: docs',
        '      uri: "mongodb://cdc:${MONGO_PASSWORD}@127.0.0.1:27117/?directConnection=true"',
        'clickhouse:',
        '  url: "https://127.0.0.1:18123"',
        '  password: "${CLICKHOUSE_PASSWORD}"',
        'telemetry:',
        '  http: { port: 0 }',
        '  otlp:',
        `    endpoint: "http://127.0.0.1:${collector}"`,
        '    headers: { x-api-key: "${OTLP_API_KEY}", x-tenant: "${OTLP_API_KEY}" }',
      ].join('\n'),
    );
    const pipeline = loadPipeline(file, { ...SECRETS });
    expect(pipeline.kafka.sasl?.password).toBe(SECRETS.KAFKA_PASSWORD);
    expect(pipeline.telemetry.otlp?.headers['x-tenant']).toBe(SECRETS.OTLP_API_KEY);

    const lines: string[] = [];
    const logger = createServiceLogger({
      service: 'capture-postgres',
      config: pipeline,
      level: 'debug',
      write: (l) => lines.push(l),
    });
    const telemetry = createTelemetry({
      service: 'capture-postgres',
      config: pipeline.telemetry,
      logger,
      shutdownTimeoutMs: 1_500,
    });
    const pg = pipeline.sources.postgres[0]!.connection;
    const pgUrl = `postgres://${pg.user}:${pg.password}@${pg.host}:${pg.port}/${pg.database}`;
    telemetry.readiness.register('postgres', () => {
      throw new Error(`cannot connect to ${pgUrl}`);
    });
    const { url } = await telemetry.start();

    // What a careless composition root and its libraries might log.
    logger.info('starting', { pipeline });
    logger.info(`config:\n${printableConfig(pipeline)}`);
    logger.debug('raw config', { text: JSON.stringify(pipeline) });
    logger.child({ source: 'docs' }).warn(`connecting to ${pipeline.sources.mongo[0]!.uri}`);
    await withSpan(telemetry.tracer, 'capture.transaction', async () => {
      logger.error('replication failed', {
        err: new CdcError('SOURCE_UNAVAILABLE', `lost ${pgUrl}`, {
          cause: new Error(`auth ${pg.password} failed`),
        }),
      });
      logger.warn('kafka', { sasl: pipeline.kafka.sasl, attempt: `password=${SECRETS.KAFKA_PASSWORD}` });
      logger.info('otlp', { headers: pipeline.telemetry.otlp?.headers });
    });
    const readyz = await (await fetch(`${url}/readyz`)).text();
    telemetry.metrics.recordsOut.add(1, { stage: 'capture', topic: 'shop.public.orders' });
    await telemetry.shutdown(); // flushes spans and metrics to the collector, which is down

    const all = lines.join('');
    expect(lines.length).toBeGreaterThanOrEqual(8);
    expect(all).toContain('replication failed');
    expect(all).toMatch(/opentelemetry: |did not flush/); // the failed export was logged, through the same logger
    expect(all).toMatch(/"trace_id":"[0-9a-f]{32}"/);
    expect(readyz).toContain('cannot connect to postgres://cdc:');
    for (const [name, secret] of Object.entries(SECRETS)) {
      expect(all.includes(secret), `${name} leaked into the log`).toBe(false);
      expect(readyz.includes(secret), `${name} leaked into /readyz`).toBe(false);
    }
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  });
});

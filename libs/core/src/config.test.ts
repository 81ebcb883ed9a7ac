import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig, printableConfig } from './config.ts';
import { isCdcError } from './errors.ts';

const Schema = z.object({
  kafka: z.object({
    brokers: z.array(z.string()).min(1),
    sasl: z
      .object({
        mechanism: z.enum(['scram-sha-256', 'scram-sha-512']),
        username: z.string(),
        password: z.string(),
      })
      .optional(),
  }),
  capture: z.object({
    batchSize: z.number().int().positive().default(1000),
    snapshotMode: z.enum(['initial', 'never']),
  }),
});

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cdc-config-'));
  const f = join(dir, 'pipeline.yaml');
  writeFileSync(f, text);
  return f;
}

describe('loadConfig', () => {
  it('reads the file, fills defaults, and lets the environment override any key', () => {
    const f = file('kafka:\n  brokers: [a:9092]\ncapture:\n  snapshotMode: initial\n');
    const config = loadConfig(Schema, {
      file: f,
      env: { CDC__KAFKA__BROKERS: '[b:9092, c:9092]', CDC__CAPTURE__BATCH_SIZE: '50' },
    });
    expect(config.kafka.brokers).toEqual(['b:9092', 'c:9092']);
    expect(config.capture).toEqual({ batchSize: 50, snapshotMode: 'initial' });
  });

  it('reads secrets from ${VAR} references so that they stay out of the file', () => {
    const f = file(
      'kafka:\n  brokers: [a:9092]\n  sasl: { mechanism: scram-sha-512, username: app, password: "${KAFKA_PASSWORD}" }\ncapture: { snapshotMode: "${MODE:-never}" }\n',
    );
    const config = loadConfig(Schema, { file: f, env: { KAFKA_PASSWORD: 'hunter2' } });
    expect(config.kafka.sasl?.password).toBe('hunter2');
    expect(config.capture.snapshotMode).toBe('never');
    const typed = file('kafka: { brokers: [a] }\ncapture:\n  snapshotMode: initial\n  batchSize: ${N}\n');
    expect(loadConfig(Schema, { file: typed, env: { N: '25' } }).capture.batchSize).toBe(25);
    expect(printableConfig(config)).not.toContain('hunter2');
  });

  it('names the file and every bad key with what is wrong', () => {
    const f = file('kafka:\n  brokers: []\ncapture:\n  snapshotMode: sometimes\n  batchSize: -1\n');
    try {
      loadConfig(Schema, { file: f, env: {} });
      expect.unreachable('invalid config was accepted');
    } catch (err) {
      expect(isCdcError(err, 'CONFIG_INVALID')).toBe(true);
      const message = (err as Error).message;
      expect(message).toContain(f);
      expect(message).toMatch(/kafka\.brokers: .*/);
      expect(message).toMatch(/capture\.snapshotMode: .*initial.*never/);
      expect(message).toMatch(/capture\.batchSize: .*/);
    }
  });

  it('says which variable a reference needs when it is not set', () => {
    const f = file('kafka:\n  brokers: ["${BROKER}"]\ncapture: { snapshotMode: initial }\n');
    expect(() => loadConfig(Schema, { file: f, env: {} })).toThrow(
      /kafka\.brokers\.0 refers to \$\{BROKER\}, which is not set/,
    );
  });

  it('reports a missing file or broken YAML as such, with the path', () => {
    expect(() => loadConfig(Schema, { file: '/nonexistent/pipeline.yaml' })).toThrow(
      /cannot read config file \/nonexistent\/pipeline.yaml/,
    );
    expect(() => loadConfig(Schema, { file: file('kafka: [unclosed\n'), env: {} })).toThrow(
      /is not valid YAML/,
    );
  });
});

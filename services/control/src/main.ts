#!/usr/bin/env node
/**
 * control: the composition root of the control service. Loads the pipeline file, makes the
 * Kafka clients, the registry serde (audit records are Avro, so the sink loads them), the token
 * registry, the metrics poller and the HTTP(S) listener, and serves until SIGTERM/SIGINT.
 *
 *   node services/control/dist/main.js --config pipeline.yaml [--state-dir .stack/pipeline]
 *   cdc control --config pipeline.yaml
 */
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { ensureSignalTopic } from '@cdc/capture';
import { createIdempotentProducer, createKafka } from '@cdc/kafka';
import { StateDir, servicesOf } from '@cdc/operate';
import { runService } from '@cdc/service';
import { AuditLog } from './audit-log.ts';
import { controlUrlFile } from './control-url.ts';
import { Handlers } from './handlers.ts';
import { LiveMetrics } from './live-metrics.ts';
import { ControlServer } from './server.ts';
import { TokenRegistry } from './tokens.ts';

const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../package.json'), 'utf8')) as {
  version: string;
};

runService({
  service: 'control',
  usage: 'control --config <pipeline file> [--state-dir <dir of `cdc up`>]',
  options: { 'state-dir': { type: 'string' } },
  setup: ({ pipeline, args, logger, telemetry, onClose }) => {
    const config = resolve(
      String(parseArgs({ options: { config: { type: 'string' } }, strict: false }).values.config),
    );
    const section = pipeline.control;
    const tokens = new TokenRegistry(section.tokens);
    if (tokens.size === 0) logger.warn('control.tokens is empty: every API request is refused (401)');
    const kafka = createKafka(pipeline.kafka, logger);
    const admin = kafka.admin();
    const producer = createIdempotentProducer(kafka);
    onClose(() => producer.disconnect());
    onClose(() => admin.disconnect());
    const serde = new AvroSerde({ registry: new RegistryClient({ ...pipeline.registry, logger }), logger });
    const state = new StateDir((args.values['state-dir'] as string | undefined) ?? process.env.CDC_STATE_DIR);
    const aggregates = new Set((pipeline.processing?.aggregate ?? []).map((a) => a.topic));
    const metrics = new LiveMetrics({
      state,
      services: servicesOf(pipeline).filter((s) => s !== 'control'),
      latencyTopics: (l) => !aggregates.has(l.topic ?? ''),
    });
    const audit = new AuditLog({ producer, admin, serde, topic: section.auditTopic, logger });
    const handlers = new Handlers({
      pipeline,
      config,
      state,
      kafka,
      admin,
      producer,
      metrics,
      verifyMetrics: telemetry.metrics,
      logger,
    });
    onClose(() => handlers.close());
    const consoleDir = resolve(import.meta.dirname, 'console');
    return [
      {
        name: 'api',
        attempt: async (signal: AbortSignal) => {
          await admin.connect();
          await producer.connect();
          await audit.ensureTopic();
          await ensureSignalTopic(admin, section.signalTopic);
          const server = new ControlServer({
            section,
            tokens,
            audit,
            handlers,
            ...(existsSync(resolve(consoleDir, 'index.html')) ? { consoleDir } : {}),
            version: pkg.version,
            logger,
          });
          metrics.start();
          try {
            const url = await server.listen();
            logger.info('control API and console listening', { url, openapi: `${url}api/openapi.json` });
            // Where `npm run demo` and the browser test find it (the port may be any free one).
            mkdirSync(state.runDir, { recursive: true });
            writeFileSync(controlUrlFile(state), `${url}\n`);
            if (!signal.aborted) await once(signal, 'abort');
          } finally {
            await server.close();
            await metrics.stop();
          }
        },
      },
    ];
  },
});

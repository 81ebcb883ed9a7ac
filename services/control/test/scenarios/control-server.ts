/**
 * The control service of a scenario, in the test's process: its API on an ephemeral port over
 * `pipeline` (which has a `control` section), with its own Kafka admin and producer, an audit
 * log on `control.auditTopic` and a temporary state directory. `close()` stops it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AvroSerde } from '@cdc/avro';
import type { Logger } from '@cdc/core';
import { createIdempotentProducer, type Kafka } from '@cdc/kafka';
import { type ServiceName, StateDir } from '@cdc/operate';
import type { Pipeline } from '@cdc/pipeline';
import { createTelemetry } from '@cdc/telemetry';
import { AuditLog } from '../../src/audit-log.ts';
import { Handlers } from '../../src/handlers.ts';
import { LiveMetrics } from '../../src/live-metrics.ts';
import { ControlServer } from '../../src/server.ts';
import { TokenRegistry } from '../../src/tokens.ts';

export interface ScenarioControl {
  /** The API's base URL. */
  url: string;
  /** Stops the server, then its producer and admin. */
  close(): Promise<void>;
}

export async function startControl(options: {
  pipeline: Pipeline & { control: NonNullable<Pipeline['control']> };
  kafka: Kafka;
  serde: AvroSerde;
  logger: Logger;
  /** The services whose telemetry the live metrics read (none here: no `cdc up`). */
  services: ServiceName[];
  /** Prefix of the temporary state directory. */
  stateDirPrefix: string;
}): Promise<ScenarioControl> {
  const { pipeline, kafka, serde, logger } = options;
  const admin = kafka.admin();
  const producer = createIdempotentProducer(kafka);
  await admin.connect();
  await producer.connect();
  const state = new StateDir(mkdtempSync(join(tmpdir(), options.stateDirPrefix)));
  const audit = new AuditLog({ producer, admin, serde, topic: pipeline.control.auditTopic, logger });
  await audit.ensureTopic();
  const server = new ControlServer({
    section: pipeline.control,
    tokens: new TokenRegistry(pipeline.control.tokens),
    audit,
    handlers: new Handlers({
      pipeline,
      config: '/nonexistent.yaml',
      state,
      kafka,
      admin,
      producer,
      metrics: new LiveMetrics({ state, services: options.services }),
      // Not served: no continuous verifier runs in these scenarios.
      verifyMetrics: createTelemetry({ service: 'control', config: pipeline.telemetry, logger }).metrics,
      logger,
    }),
    version: 'test',
    logger,
  });
  const url = await server.listen();
  return {
    url,
    close: async () => {
      await server.close();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}

/**
 * @cdc/service: the runner every service's `main.ts` uses.
 *
 *   import { runService } from '@cdc/service';
 *
 *   runService({
 *     service: 'sink-clickhouse',
 *     usage: 'sink-clickhouse --config <pipeline.yaml>',
 *     setup: ({ pipeline, logger, telemetry, onClose }) => {
 *       const transport = makeTransport(pipeline);          // made once per process
 *       onClose(() => transport.close());
 *       return [{
 *         name: 'sink',
 *         attempt: async (signal) => {                      // started again after a retriable failure
 *           const sink = new ClickHouseSink({ ... });
 *           try { await sink.start(); await untilAborted(signal, sink.done); }
 *           finally { await sink.stop(); }
 *         },
 *       }];
 *     },
 *   });
 */
export { describe } from './describe.ts';
export {
  runService,
  type ServiceContext,
  type ServiceDefinition,
  type ServiceUnit,
  type StartOptions,
  startService,
} from './run-service.ts';
export { UnitStatus } from './unit-status.ts';

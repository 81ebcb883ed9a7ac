/**
 * capture-postgres: the composition root. One capture per PostgreSQL source of the pipeline
 * file (or the one named by --source), each a unit of the service runner (`captureMain`): a
 * retriable failure restarts that source's session from what Kafka committed; on SIGTERM/SIGINT
 * each session lets its open Kafka transaction finish or abort (only what committed is
 * acknowledged to the slot).
 *
 *   node services/capture-postgres/dist/main.js --config pipeline.yaml [--source shop]
 */
import { captureMain } from '@cdc/capture';
import { PostgresCapture } from './capture.ts';

captureMain({
  service: 'capture-postgres',
  kind: 'postgres',
  label: 'PostgreSQL',
  observer: (source) => ({ slot: source.slot }),
  create: (options) => new PostgresCapture(options),
});

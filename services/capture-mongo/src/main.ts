/**
 * capture-mongo: the composition root. One capture per MongoDB source of the pipeline file (or
 * the one named by --source), each a unit of the service runner (`captureMain`): a retriable
 * failure restarts that source's session from the committed resume token; on SIGTERM/SIGINT
 * each session writes what is buffered with its resume token in a last Kafka transaction (or
 * lets it abort).
 *
 *   node services/capture-mongo/dist/main.js --config pipeline.yaml [--source shop]
 */
import { captureMain } from '@cdc/capture';
import { MongoCapture } from './capture.ts';

captureMain({
  service: 'capture-mongo',
  kind: 'mongo',
  label: 'MongoDB',
  // Inferred MongoDB schemas write their unions wrapped (an integral double must keep its branch).
  wrapUnions: true,
  // The offsets topic also holds the inferred schemas' states: no data records.
  observer: (source) => ({ uncounted: [source.offsetsTopic] }),
  create: (options) => new MongoCapture(options),
});

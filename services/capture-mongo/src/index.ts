/**
 * @cdc/capture-mongo as a library: the capture without its process wiring (`main.ts`), for
 * programs that run it in-process (the benchmarks).
 *
 *   const capture = new MongoCapture({ source, kafka, registry, logger, ... });
 *   await capture.run(signal);
 */
export { type CaptureOptions, MongoCapture } from './capture.ts';

/**
 * One extra stream thread (`processing.threads` > 1), run in a worker thread by `threads.ts`:
 * a `ProcessorApp` of its own (its own Kafka clients, consumer-group membership, tasks and state
 * directory) over the same declarations, as Kafka Streams runs `num.stream.threads`. It
 * reports to the main thread what the main thread's observer would have counted, its state and
 * its tasks every 500 ms, its failure at once; it stops cleanly when told to.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RegistryClient } from '@cdc/avro';
import { CdcError, isCdcError } from '@cdc/core';
import { createKafka, isFencedError, isRetriableKafkaError } from '@cdc/kafka';
import { createServiceLogger } from '@cdc/telemetry';
import { ProcessorApp } from './app.ts';
import type { ProcessorObserver } from './observer.ts';
import type { MainToThread, ThreadData, ThreadReport, ThreadToMain } from './threads.ts';
import { countTransactions } from './transaction-counter.ts';

const port = parentPort;
if (!port) throw new CdcError('INVARIANT_VIOLATED', 'stream-thread.ts runs only as a worker thread');
const { pipeline, index, level, stateDir } = workerData as ThreadData;
const section = pipeline.processing;
if (!section)
  throw new CdcError('INVARIANT_VIOLATED', 'a stream thread started without processing declarations');
const logger = createServiceLogger({ service: 'processor', config: pipeline, level }).child({
  thread: index,
});
const post = (m: ThreadToMain) => port.postMessage(m);

let joinNow: () => void = () => {};
let read = new Map<string, number>();
let committed: ThreadReport['committed'] = [];
let aborted = 0;
// Spans stay with the main thread: here the outputs carry the source's trace context unchanged.
const observer: ProcessorObserver = {
  record(topic, headers, forward) {
    read.set(topic, (read.get(topic) ?? 0) + 1);
    return forward(headers ?? {});
  },
  committed(perTopic, total) {
    committed.push({ perTopic: [...perTopic], total });
  },
  aborted() {
    aborted += 1;
  },
};

const registry = new RegistryClient({
  url: pipeline.registry.url,
  ...(pipeline.registry.auth ? { auth: pipeline.registry.auth } : {}),
  logger,
});
const kafka = countTransactions(createKafka(pipeline.kafka, logger), section.applicationId, observer);
// Queries: each thread answers for its own tasks on a port of its own; the membership routes.
const app = new ProcessorApp({
  section: { ...section, http: { ...section.http, port: 0, advertisedUrl: undefined } },
  kafka,
  registry,
  logger,
  observer,
  stateDir,
  // Joins the consumer group when the main thread says so: every thread at once (threads.ts).
  beforeJoin: () => {
    const join = new Promise<void>((resolve) => {
      joinNow = resolve;
    });
    post({ type: 'ready' });
    return join;
  },
});

function report(): void {
  const metrics = app.runtimeMetrics;
  post({
    type: 'report',
    state: app.state,
    tasks: app.assignedTasks,
    read: [...read],
    committed,
    aborted,
    ...(metrics ? { metrics: { ...metrics } } : {}),
  });
  read = new Map();
  committed = [];
  aborted = 0;
}

let closing: Promise<void> | undefined;
function close(): Promise<void> {
  closing ??= (async () => {
    clearInterval(timer);
    await started.catch(() => undefined); // a start under way finishes (or fails) first
    await app.close().catch((err) => logger.warn('closing the stream thread failed', { err }));
    report();
    post({ type: 'closed' });
    // Ends this thread only, whatever the clients left behind (idle keep-alive sockets).
    process.exit(0);
  })();
  return closing;
}

function fail(err: unknown): void {
  if (closing) return;
  post({
    type: 'failed',
    code: isCdcError(err) ? err.code : 'KAFKA_UNAVAILABLE',
    message: (err as Error)?.message ?? String(err),
    retriable: isRetriableKafkaError(err) || isFencedError(err),
  });
  void close();
}

const timer = setInterval(() => {
  report();
  if (app.state === 'failed') fail(app.error);
}, 500);
port.on('message', (m: MainToThread) => {
  if (m.type === 'stop') {
    joinNow(); // a start waiting to join goes on, and the close that follows stops it
    void close();
  } else if (m.type === 'join') joinNow();
});
const started = app.start();
started.then(
  () => logger.info('stream thread running', { thread: index }),
  (err: unknown) => fail(err),
);

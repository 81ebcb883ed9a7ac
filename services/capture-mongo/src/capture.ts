/**
 * One MongoDB capture: sessions run until stopped (by the service runner, or `run`). A session connects the
 * transactional writer (fencing any predecessor), reads the committed position and inferred
 * schemas from the offsets topic, connects to MongoDB, decides the stream scope, checks that
 * the server still has the history after the stored tokens, takes (or finishes) the initial
 * snapshot when the mode asks for one, then streams.
 *
 * Any retriable failure (Kafka, the registry or MongoDB unavailable, a server restart, a
 * failed Kafka transaction) ends the session without storing anything more; the next session
 * starts after a backoff with jitter from what Kafka has, so nothing is lost or written twice.
 * Non-retriable failures (history lost without `when_needed`, fencing, configuration,
 * incompatible schema under `stop`) stop the capture with the error.
 */
import type { AvroSerde, InferredSchemaState } from '@cdc/avro';
import {
  ChangeWriter,
  deadLetterTopic,
  OffsetsStore,
  RowGate,
  runSessions,
  SignalChannel,
  TablePauses,
  TopicSchemas,
} from '@cdc/capture';
import { CdcError, type Clock, isRetriable, type Logger, topicFor } from '@cdc/core';
import { type Admin, isRetriableKafkaError, type Kafka, recordSizeConfig } from '@cdc/kafka';
import type { MongoSource } from '@cdc/pipeline';
import { MongoClient } from 'mongodb';
import { CollectionRoutes, DocumentTransforms, mongoEnvelopeSchema } from './collections.ts';
import { type CaptureObserver, noopObserver } from './observer.ts';
import {
  captureId,
  DEPLOYMENT_STREAM,
  type ResumePoint,
  type StoredMongoPosition,
  schemaStatePrefix,
} from './position.ts';
import { Snapshotter } from './snapshot/snapshotter.ts';
import { historyReaches, listIncluded, oplogTime, resolveScope, startPoint } from './source-server.ts';
import { ChangeStreams, historyLostError, isHistoryLost } from './streaming/change-streams.ts';
import { ControlCommands } from './streaming/control-commands.ts';
import { MongoResync, submitResync } from './streaming/resync.ts';
import { Streamer, type StreamerStats } from './streaming/streamer.ts';

export interface CaptureOptions {
  source: MongoSource;
  kafka: Kafka;
  admin: Admin;
  /** Built with `wrapUnions: true` (the inferred schemas' unions are written wrapped). */
  serde: AvroSerde;
  logger: Logger;
  clock: Clock;
  /** Metrics, readiness and traces (default: none). */
  observer?: CaptureObserver;
  /** Where the source is in the pipeline file (`sources.mongo[0]`), for errors that need a fix there. */
  configPath?: string;
  /** The Kafka topic of the control service's commands (pause, resume); absent: none read. */
  signalTopic?: string;
}

export class MongoCapture {
  private readonly o: CaptureOptions;
  private streamer: Streamer | undefined;
  private snapshotter: Snapshotter | undefined;

  /** Per-collection transforms; its gate remembers collections stopped by a rule across sessions. */
  readonly transforms: DocumentTransforms;

  constructor(options: CaptureOptions) {
    this.o = options;
    this.transforms = new DocumentTransforms(
      { tables: options.source.tables, maskSalt: options.source.maskSalt, source: options.source.name },
      this.prefix,
      new RowGate(
        this.observer.quality,
        options.logger,
        (ns) =>
          `restart capture-mongo (\`cdc down; cdc up\`): the collection flows again; its held documents are listed by \`cdc quarantine list ${ns}\` — update them in MongoDB to capture them again, then \`cdc quarantine discard ${ns}\``,
      ),
    );
  }

  get prefix(): string {
    return this.o.source.topicPrefix ?? this.o.source.name;
  }

  get stats(): StreamerStats | undefined {
    return this.streamer?.stats;
  }

  private get observer(): CaptureObserver {
    return this.o.observer ?? noopObserver;
  }

  get snapshotProgress() {
    return this.snapshotter?.progress;
  }

  /**
   * Runs sessions until `signal` aborts (resolves) or a failure a new session cannot fix
   * (rejects), on the restart loop the service runner uses too (`runSessions`).
   */
  async run(signal: AbortSignal): Promise<void> {
    const { logger, clock } = this.o;
    await runSessions((s) => this.attempt(s), signal, { retriable: shouldRestart, logger, clock });
  }

  /** One session, until `signal` aborts (resolves) or it fails (rejects, having stored nothing more). */
  async attempt(signal: AbortSignal): Promise<void> {
    try {
      await this.session(signal);
    } catch (err) {
      this.observer.running(false, `session failed: ${(err as Error)?.message ?? String(err)}`);
      if (!signal.aborted) this.observer.error(err);
      throw err;
    }
  }

  private async session(signal: AbortSignal): Promise<void> {
    const { source, kafka, admin, serde, logger, clock } = this.o;
    const offsets = new OffsetsStore({ kafka, admin, topic: source.offsetsTopic, logger });
    const topics = new TopicSchemas({
      serde,
      admin,
      policy: source.schemaEvolution,
      partitions: source.topicPartitions,
      logger,
      connector: 'mongodb',
      envelope: mongoEnvelopeSchema,
      atLeast: recordSizeConfig(source.maxRecordBytes),
    });
    const dlq = deadLetterTopic(this.prefix);
    const closers: (() => Promise<unknown>)[] = [];
    try {
      await offsets.ensureTopic();
      await topics.ensureTopic(dlq);
      const writer = await ChangeWriter.connect(kafka, {
        transactionalId: `capture-mongo-${source.name}`,
        logger,
      });
      closers.push(() => writer.disconnect());
      const stored = await offsets.readAll<unknown>(captureId(source.name));
      let position = stored.get(captureId(source.name)) as StoredMongoPosition | undefined;
      const states = new Map<string, InferredSchemaState>();
      const prefix = schemaStatePrefix(source.name);
      for (const [key, value] of stored) {
        if (key.startsWith(prefix)) states.set(key.slice(prefix.length), value as InferredSchemaState);
      }
      const client = new MongoClient(source.uri, {
        promoteValues: false,
        bsonRegExp: true,
        serverSelectionTimeoutMS: 10_000,
        connectTimeoutMS: 10_000,
        appName: `cdc-capture-${source.name}`,
      });
      closers.push(() => client.close());
      await client.connect().catch((err: unknown) => {
        const refused = authenticationError(
          err,
          source.name,
          this.o.configPath ?? `sources.mongo[${source.name}]`,
        );
        if (refused) throw refused;
        throw new CdcError(
          'SOURCE_UNAVAILABLE',
          `cannot connect to MongoDB (${source.name}): ${(err as Error).message}`,
          {
            retriable: true,
            context: { source: source.name },
            cause: err,
          },
        );
      });
      const routes = new CollectionRoutes({
        name: source.name,
        prefix: this.prefix,
        topics,
        offsets,
        maxFieldsPerRecord: source.maxFieldsPerRecord,
        states,
        logger,
        transforms: this.transforms,
      });
      if (this.transforms.configured)
        await topics.ensureTopic(this.transforms.quarantineTopic, { 'cleanup.policy': 'compact' });
      const commitPosition = (p: StoredMongoPosition) =>
        writer.commit([], offsets.positionRecord(captureId(source.name), p));

      if (position) {
        const oldest = await oplogTime(client, 1);
        const lost = Object.entries(position.streams).find(([, point]) => !historyReaches(point, oldest));
        if (lost) {
          const err = historyLostError(source.name, lost[0], undefined);
          if (source.snapshot !== 'when_needed') throw err;
          logger.warn(
            'the stored resume token is no longer in the server history: taking a fresh snapshot (snapshot: when_needed)',
            {
              stream: lost[0],
            },
          );
          position = undefined;
        }
      }
      if (!position) {
        const scope = await resolveScope(client, source, logger);
        const collections = await listIncluded(client, source.include);
        const keys = scope === 'deployment' ? [DEPLOYMENT_STREAM] : collections;
        const streams: Record<string, ResumePoint> = {};
        for (const key of keys) streams[key] = await startPoint(client, source, key);
        position = {
          kind: 'mongo',
          v: 1,
          scope,
          streams,
          snapshot:
            source.snapshot === 'never'
              ? null
              : {
                  id: `${source.name}-${clock.now().toString(36)}`,
                  collections,
                  done: [],
                  complete: false,
                },
        };
        // Stored before anything else: a restart continues this snapshot (same id) from these points.
        await commitPosition(position);
        logger.info('start points taken', {
          scope,
          streams: keys.length,
          snapshot: position.snapshot?.id ?? null,
        });
      } else if (position.scope === 'collection') {
        // Collections created since the last session start streaming now.
        for (const ns of await listIncluded(client, source.include)) {
          if (position.streams[ns]) continue;
          position.streams[ns] = await startPoint(client, source, ns);
          logger.info('new collection: streaming it from now', { collection: ns });
        }
      }
      if (position.snapshot && !position.snapshot.complete) {
        this.snapshotter = new Snapshotter({
          name: source.name,
          client,
          writer,
          offsets,
          routes,
          position,
          parallelism: source.snapshotOptions.parallelism,
          batchSize: source.snapshotOptions.batchSize,
          deadLetterTopic: dlq,
          maxRecordBytes: source.maxRecordBytes,
          observer: this.observer,
          logger,
          clock,
        });
        this.observer.running(true, 'snapshotting');
        position = await this.snapshotter.run(signal);
      }
      if (signal.aborted) return;
      const streams = new ChangeStreams({
        client,
        source,
        resume: new Map(Object.entries(position.streams)),
        logger,
      });
      closers.push(() => streams.close());
      await streams.start().catch((err: unknown) => {
        if (isHistoryLost(err)) throw historyLostError(source.name, '(one of them)', err);
        throw err;
      });
      logger.info('streaming', { scope: position.scope, streams: Object.keys(position.streams).length });
      const pauses = new TablePauses({ kafka, admin, prefix: this.prefix, logger });
      await pauses.load();
      const commands = new ControlCommands();
      if (this.o.signalTopic) {
        const channel = new SignalChannel({
          kafka,
          admin,
          topic: this.o.signalTopic,
          source: source.name,
          logger,
        });
        closers.push(async () => commands.failAll('the capture session ended'));
        closers.push(() => channel.stop());
        const resync = new MongoResync({
          name: source.name,
          client,
          routes,
          deadLetterTopic: dlq,
          maxRecordBytes: source.maxRecordBytes,
          observer: this.observer,
          logger,
          clock,
        });
        await channel.start(async (s) => {
          if (s.type === 'resync') return submitResync(s, resync, commands, this.prefix, logger);
          const dot = s.table.indexOf('.');
          if (dot <= 0) {
            logger.warn('a signal was ignored: MongoDB collections are named db.collection', {
              id: s.id,
              table: s.table,
            });
            return;
          }
          const base = topicFor(this.prefix, {
            db: s.table.slice(0, dot),
            collection: s.table.slice(dot + 1),
          });
          await commands.submit(s.type, base);
        });
      }
      this.streamer = new Streamer({
        pauses,
        commands,
        name: source.name,
        include: source.include,
        streams,
        writer,
        offsets,
        topics,
        routes,
        position,
        deadLetterTopic: dlq,
        maxChangesPerTransaction: source.maxChangesPerTransaction,
        maxRecordBytes: source.maxRecordBytes,
        heartbeatIntervalMs: source.heartbeatIntervalMs,
        observer: this.observer,
        logger,
        clock,
      });
      this.observer.running(true, 'streaming');
      await this.streamer.run(signal);
    } catch (err) {
      if (isHistoryLost(err)) throw historyLostError(source.name, '(streaming)', err);
      throw err;
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
    }
  }
}

const RESTARTABLE = new Set([
  'KAFKA_UNAVAILABLE',
  'KAFKA_REQUEST_FAILED',
  'KAFKA_TRANSACTION_FAILED',
  'SOURCE_UNAVAILABLE',
  'SCHEMA_REGISTRY_UNAVAILABLE',
]);

/** Whether a new session may fix it (restarting is always safe: it resumes from what Kafka has). */
export function shouldRestart(err: unknown): boolean {
  if (err instanceof CdcError) return err.retriable || RESTARTABLE.has(err.code);
  if (isRetriable(err) || isRetriableKafkaError(err)) return true;
  const e = err as { name?: string; message?: string; errorLabels?: unknown };
  if (typeof e?.name === 'string' && /Mongo(Network|ServerSelection|NotConnected|Topology)/.test(e.name))
    return true;
  const labels = (err as { hasErrorLabel?: (l: string) => boolean })?.hasErrorLabel;
  if (
    typeof labels === 'function' &&
    (labels.call(err, 'ResumableChangeStreamError') || labels.call(err, 'RetryableWriteError'))
  )
    return true;
  return /ECONNRE|socket|closed|interrupted|shutdown|not primary|connection/i.test(e?.message ?? '');
}

/**
 * A refused login (MongoDB's `AuthenticationFailed`, code 18) as a failure that restarting
 * cannot fix: it names the key of the pipeline file to correct. `undefined` for any other error.
 */
export function authenticationError(err: unknown, source: string, configPath: string): CdcError | undefined {
  const e = err as { code?: unknown; codeName?: unknown; message?: string };
  if (
    e?.code !== 18 &&
    e?.codeName !== 'AuthenticationFailed' &&
    !/authentication failed/i.test(e?.message ?? '')
  )
    return undefined;
  return new CdcError(
    'SOURCE_PERMISSION_DENIED',
    `MongoDB refused the login of source ${source} (${e?.message ?? String(err)}): fix the user name or password in ${configPath}.uri (mongodb://user:password@host/…, with authSource if the user is defined in another database) and start the capture again`,
    { context: { source, configKey: `${configPath}.uri` }, cause: err },
  );
}

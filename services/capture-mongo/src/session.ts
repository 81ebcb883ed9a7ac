/**
 * One MongoDB capture session, in the phases the coordinator walks (`@cdc/capture`'s
 * `planSession`): `open` reads the committed position and inferred schemas from the offsets
 * topic, connects to MongoDB and checks that the server still has the history after the stored
 * tokens; then, as the plan says, `discard` forgets lost start points, `start` takes new ones
 * (stored before anything else, so a restart continues the same snapshot), `snapshot` takes (or
 * finishes) the initial snapshot, and `stream` follows the change streams.
 */
import type { InferredSchemaState } from '@cdc/avro';
import {
  type CaptureObserver,
  type ConnectorSession,
  type DiscardReason,
  type FailReason,
  type SessionContext,
  type SessionFacts,
  type Signal,
  type SignalHandlers,
  type TablePauses,
  TopicSchemas,
} from '@cdc/capture';
import { CdcError, topicFor } from '@cdc/core';
import { recordSizeConfig } from '@cdc/kafka';
import { MongoClient } from 'mongodb';
import { authenticationError, type CaptureOptions, type MongoCapture } from './capture.ts';
import { CollectionRoutes, mongoEnvelopeSchema } from './collections.ts';
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
import { Streamer } from './streaming/streamer.ts';

/** What a session is made of. */
interface MongoParts {
  capture: MongoCapture;
  o: CaptureOptions;
  ctx: SessionContext;
  client: MongoClient;
  routes: CollectionRoutes;
  topics: TopicSchemas;
  /** The first stream whose stored token the server history no longer reaches. */
  lostStream: string | undefined;
}

export class MongoSession implements ConnectorSession {
  readonly facts: SessionFacts;
  readonly signals: SignalHandlers;
  /** Each batch of the snapshot is its own transaction: consumers may start while it runs. */
  readonly readyWhileSnapshotting = true;
  private readonly commands = new ControlCommands();
  /** Re-reads collections, `_id` ranges or listed `_id`s on a resync signal, between two change events. */
  private readonly resync: MongoResync;
  private position: StoredMongoPosition | undefined;

  private readonly p: MongoParts;

  private constructor(parts: MongoParts, position: StoredMongoPosition | undefined) {
    this.p = parts;
    const { o, ctx, lostStream } = parts;
    this.position = position;
    this.facts = {
      mode: o.source.snapshot,
      stored: position
        ? {
            snapshotTaken: position.snapshot?.complete ?? false,
            snapshotUnfinished: Boolean(position.snapshot && !position.snapshot.complete),
          }
        : null,
      history: !position ? 'absent' : lostStream !== undefined ? 'lost' : 'kept',
    };
    ctx.onClose(() => this.commands.failAll('the capture session ended'));
    const table = (s: Signal) => this.pauseOrResume(s);
    this.signals = {
      pause: table,
      resume: table,
      resync: (s) => submitResync(s, this.resync, this.commands, parts.capture.prefix, o.logger),
    };
    this.resync = new MongoResync({
      name: o.source.name,
      client: parts.client,
      routes: parts.routes,
      deadLetterTopic: parts.capture.deadLetterTopic,
      maxRecordBytes: o.source.maxRecordBytes,
      observer: ctx.observer,
      logger: o.logger,
      clock: o.clock,
    });
  }

  static async open(capture: MongoCapture, o: CaptureOptions, ctx: SessionContext): Promise<MongoSession> {
    const { source, admin, serde, logger } = o;
    const { offsets } = ctx;
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
    await topics.ensureTopic(capture.deadLetterTopic);
    const stored = await offsets.readAll<unknown>(captureId(source.name));
    const position = stored.get(captureId(source.name)) as StoredMongoPosition | undefined;
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
    ctx.onClose(() => client.close());
    await client.connect().catch((err: unknown) => {
      const refused = authenticationError(err, source.name, o.configPath ?? `sources.mongo[${source.name}]`);
      if (refused) throw refused;
      throw new CdcError(
        'SOURCE_UNAVAILABLE',
        `cannot connect to MongoDB (${source.name}): ${(err as Error).message}`,
        { retriable: true, context: { source: source.name }, cause: err },
      );
    });
    const routes = new CollectionRoutes({
      name: source.name,
      prefix: capture.prefix,
      topics,
      offsets,
      maxFieldsPerRecord: source.maxFieldsPerRecord,
      states,
      logger,
      transforms: capture.transforms,
    });
    if (capture.transforms.configured)
      await topics.ensureTopic(capture.transforms.quarantineTopic, { 'cleanup.policy': 'compact' });
    let lost: string | undefined;
    if (position) {
      const oldest = await oplogTime(client, 1);
      lost = Object.entries(position.streams).find(([, point]) => !historyReaches(point, oldest))?.[0];
      if (lost === undefined && position.scope === 'collection') {
        // Collections created since the last session start streaming now.
        for (const ns of await listIncluded(client, source.include)) {
          if (position.streams[ns]) continue;
          position.streams[ns] = await startPoint(client, source, ns);
          logger.info('new collection: streaming it from now', { collection: ns });
        }
      }
    }
    return new MongoSession({ capture, o, ctx, client, routes, topics, lostStream: lost }, position);
  }

  private get observer(): CaptureObserver {
    return this.p.ctx.observer;
  }

  failure(why: FailReason): Error {
    if (why === 'history-lost')
      return historyLostError(this.p.o.source.name, this.p.lostStream ?? '?', undefined);
    return new CdcError('SOURCE_POSITION_LOST', `MongoDB source ${this.p.o.source.name}: ${why}`, {
      context: { source: this.p.o.source.name },
    });
  }

  async discard(why: DiscardReason): Promise<void> {
    if (why === 'history-lost')
      this.p.o.logger.warn(
        'the stored resume token is no longer in the server history: taking a fresh snapshot (snapshot: when_needed)',
        { stream: this.p.lostStream },
      );
    this.position = undefined;
  }

  async start(snapshot: boolean): Promise<void> {
    const { source, logger, clock } = this.p.o;
    const { client } = this.p;
    const scope = await resolveScope(client, source, logger);
    const collections = await listIncluded(client, source.include);
    const keys = scope === 'deployment' ? [DEPLOYMENT_STREAM] : collections;
    const streams: Record<string, ResumePoint> = {};
    for (const key of keys) streams[key] = await startPoint(client, source, key);
    const position: StoredMongoPosition = {
      kind: 'mongo',
      v: 1,
      scope,
      streams,
      snapshot: snapshot
        ? { id: `${source.name}-${clock.now().toString(36)}`, collections, done: [], complete: false }
        : null,
    };
    // Stored before anything else: a restart continues this snapshot (same id) from these points.
    await this.p.ctx.writer.commit([], this.p.ctx.offsets.positionRecord(captureId(source.name), position));
    this.position = position;
    logger.info('start points taken', {
      scope,
      streams: keys.length,
      snapshot: position.snapshot?.id ?? null,
    });
  }

  async snapshot(signal: AbortSignal): Promise<void> {
    const { source, logger, clock } = this.p.o;
    const position = this.started();
    const snapshotter = new Snapshotter({
      name: source.name,
      client: this.p.client,
      writer: this.p.ctx.writer,
      offsets: this.p.ctx.offsets,
      routes: this.p.routes,
      position,
      parallelism: source.snapshotOptions.parallelism,
      batchSize: source.snapshotOptions.batchSize,
      deadLetterTopic: this.p.capture.deadLetterTopic,
      maxRecordBytes: source.maxRecordBytes,
      observer: this.observer,
      logger,
      clock,
    });
    this.p.capture.snapshotter = snapshotter;
    this.position = await snapshotter.run(signal);
  }

  async stream(signal: AbortSignal, pauses: TablePauses): Promise<void> {
    const { source, logger, clock } = this.p.o;
    const position = this.started();
    const streams = new ChangeStreams({
      client: this.p.client,
      source,
      resume: new Map(Object.entries(position.streams)),
      logger,
    });
    this.p.ctx.onClose(() => streams.close());
    await streams.start().catch((err: unknown) => {
      if (isHistoryLost(err)) throw historyLostError(source.name, '(one of them)', err);
      throw err;
    });
    logger.info('streaming', { scope: position.scope, streams: Object.keys(position.streams).length });
    const streamer = new Streamer({
      pauses,
      commands: this.commands,
      name: source.name,
      include: source.include,
      streams,
      writer: this.p.ctx.writer,
      offsets: this.p.ctx.offsets,
      topics: this.p.topics,
      routes: this.p.routes,
      position,
      deadLetterTopic: this.p.capture.deadLetterTopic,
      maxChangesPerTransaction: source.maxChangesPerTransaction,
      maxRecordBytes: source.maxRecordBytes,
      heartbeatIntervalMs: source.heartbeatIntervalMs,
      observer: this.observer,
      logger,
      clock,
    });
    this.p.capture.streamer = streamer;
    this.observer.running(true, 'streaming');
    await streamer.run(signal);
  }

  explain(err: unknown): unknown {
    return isHistoryLost(err) ? historyLostError(this.p.o.source.name, '(streaming)', err) : err;
  }

  /** Pause and resume name a collection as `db.collection`; its base topic is what the streamer pauses. */
  private async pauseOrResume(s: Signal): Promise<void> {
    const dot = s.table.indexOf('.');
    if (dot <= 0) {
      this.p.o.logger.warn('a signal was ignored: MongoDB collections are named db.collection', {
        id: s.id,
        table: s.table,
      });
      return;
    }
    const base = topicFor(this.p.capture.prefix, {
      db: s.table.slice(0, dot),
      collection: s.table.slice(dot + 1),
    });
    await this.commands.submit(s.type as 'pause' | 'resume', base);
  }

  private started(): StoredMongoPosition {
    if (!this.position) throw new Error('the session has no start position (the plan runs `start` first)');
    return this.position;
  }
}

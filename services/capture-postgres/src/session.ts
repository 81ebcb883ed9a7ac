/**
 * One PostgreSQL capture session, in the phases the coordinator walks (`@cdc/capture`'s
 * `planSession`): `open` connects the catalog connection, makes sure the publication exists
 * and reads the slot's state; then, as the plan says, `discard` drops the slot, `start` creates
 * one (exporting a snapshot when one is taken), `snapshot` reads the initial snapshot,
 * `incremental` prepares the snapshots that run beside the stream (tables added to the include
 * list, resync requests, chunked initial tables), and `stream` streams the slot's changes.
 */
import type { AvroSerde } from '@cdc/avro';
import {
  type CaptureObserver,
  type ConnectorSession,
  type DiscardReason,
  type FailReason,
  type History,
  type SessionContext,
  type SessionFacts,
  type Signal,
  type SignalHandlers,
  type TablePauses,
  TopicSchemas,
} from '@cdc/capture';
import { CdcError, parseLsn } from '@cdc/core';
import { recordSizeConfig } from '@cdc/kafka';
import { type PostgresSource, postgresClientConfig } from '@cdc/pipeline';
import pg from 'pg';
import { authenticationError, type CaptureOptions, type PostgresCapture } from './capture.ts';
import { openIncrementalSnapshot } from './incremental-setup.ts';
import { PartitionWatcher } from './partitions.ts';
import { ReplicationStream, sourceError } from './pgoutput/replication-stream.ts';
import { captureId, type StoredPosition } from './positions.ts';
import {
  createSlot,
  createSlotWithSnapshot,
  dropSlot,
  ensurePublication,
  publicationTables,
  publishedTableNames,
  qualified,
  type SlotInfo,
  slotInfo,
} from './slot.ts';
import type { IncrementalSnapshot } from './snapshot/incremental.ts';
import { Snapshotter } from './snapshot/snapshotter.ts';
import type { ToastFetcher } from './streaming/change-records.ts';
import { emitSignal } from './streaming/control-signals.ts';
import { MessageTopic } from './streaming/message-topic.ts';
import { Streamer } from './streaming/streamer.ts';
import { rowReader } from './streaming/table-transforms.ts';

export function pgConfig(source: PostgresSource): pg.ClientConfig {
  // pgoutput and the snapshot print values with the session options; the Avro conversion reads them.
  return postgresClientConfig(source, 'capture');
}

const textTypes = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

/** What a session is made of. */
interface PostgresParts {
  capture: PostgresCapture;
  o: CaptureOptions;
  ctx: SessionContext;
  config: pg.ClientConfig;
  catalog: pg.Client;
  topics: TopicSchemas;
  slot: SlotInfo;
}

export class PostgresSession implements ConnectorSession {
  readonly facts: SessionFacts;
  readonly signals: SignalHandlers;
  private stored: StoredPosition | undefined;
  private exported: Awaited<ReturnType<typeof createSlotWithSnapshot>> | undefined;
  private incremental_: IncrementalSnapshot | undefined;

  private readonly p: PostgresParts;

  private constructor(parts: PostgresParts, stored: StoredPosition | undefined) {
    this.facts = {
      mode: parts.o.source.snapshot,
      stored: stored ? { snapshotTaken: Boolean(stored.snapshot) } : null,
      history: slotHistory(parts.slot),
    };
    this.stored = stored;
    this.p = parts;
    // Commands go into the WAL (control-signals.ts), so they act at one point of the stream.
    const emit = (s: Signal) => emitSignal(parts.catalog, parts.o.source.name, s);
    this.signals = { pause: emit, resume: emit, resync: emit };
  }

  /** Reads the stored position, connects the catalog connection, ensures the publication, reads the slot. */
  static async open(
    capture: PostgresCapture,
    o: CaptureOptions,
    ctx: SessionContext,
  ): Promise<PostgresSession> {
    const { source, admin, serde, logger } = o;
    const config = pgConfig(source);
    let catalogClient: pg.Client | undefined;
    const topics = topicSchemas(source, serde, admin, logger, () => catalogClient);
    const stored = await ctx.offsets.read<StoredPosition>(captureId(source.name));
    const catalog = new pg.Client(config);
    catalog.on('error', (err) => logger.warn('catalog connection error', { err }));
    await catalog.connect().catch((err: unknown) => {
      throw (
        authenticationError(err, source, o.configPath ?? `sources.postgres[${source.name}]`) ??
        sourceError(err, source.slot)
      );
    });
    ctx.onClose(() => catalog.end());
    catalogClient = catalog;
    await ensurePublication(catalog, source.publication, source.include, logger);
    const slot = await slotInfo(catalog, source.slot);
    return new PostgresSession({ capture, o, ctx, config, catalog, topics, slot }, stored);
  }

  private get observer(): CaptureObserver {
    return this.p.ctx.observer;
  }

  failure(why: FailReason): Error {
    const { slot } = this.p.o.source;
    switch (why) {
      case 'history-lost':
        return sourceError(new Error(`can no longer get changes from replication slot ${slot}`), slot);
      case 'history-absent':
        return sourceError(new Error(`replication slot "${slot}" does not exist`), slot);
      case 'history-in-use':
        return new CdcError(
          'SOURCE_UNAVAILABLE',
          `replication slot ${slot} is still in use (pid ${this.p.slot.activePid})`,
          { retriable: true, context: { slot } },
        );
    }
  }

  async discard(why: DiscardReason): Promise<void> {
    const { source, logger } = this.p.o;
    if (why === 'history-lost')
      logger.warn('slot has lost WAL; dropping it for a new snapshot (snapshot: when_needed)', {
        slot: source.slot,
      });
    else if (why === 'interrupted-snapshot')
      logger.warn('dropping the slot of an interrupted snapshot; the snapshot starts again', {
        slot: source.slot,
      });
    await dropSlot(this.p.catalog, source.slot);
    if (why === 'initial-only-done')
      logger.info('initial snapshot done; slot dropped (snapshot: initial_only)', { slot: source.slot });
  }

  async start(snapshot: boolean): Promise<void> {
    const { source, logger } = this.p.o;
    if (!snapshot) {
      const lsn = await createSlot(this.p.catalog, source.slot);
      logger.info('created replication slot (no snapshot)', { slot: source.slot, lsn });
      return;
    }
    if (this.stored)
      logger.warn('replication slot is gone; taking a new snapshot (snapshot: when_needed)', {
        slot: source.slot,
      });
    this.exported = await createSlotWithSnapshot(this.p.config, source.slot);
    const exported = this.exported;
    this.p.ctx.onClose(() => exported.connection.end().catch(() => undefined));
  }

  async snapshot(): Promise<void> {
    const { source, logger, clock } = this.p.o;
    const exported = this.exported;
    if (!exported) throw new Error('the initial snapshot needs a slot created with an exported snapshot');
    const { topics, capture } = this.p;
    // Where the snapshot dead-letters rows over maxRecordBytes.
    await topics.ensureTopic(capture.deadLetterTopic);
    if (capture.transforms.configured)
      await topics.ensureTopic(capture.transforms.quarantineTopic, { 'cleanup.policy': 'compact' });
    try {
      const tables = await publicationTables(this.p.catalog, source.publication);
      const snapshotter = new Snapshotter({
        name: source.name,
        db: source.connection.database,
        prefix: capture.prefix,
        slot: source.slot,
        connection: this.p.config,
        snapshotName: exported.snapshotName,
        consistentPoint: exported.consistentPoint,
        tables,
        parallelism: source.snapshotOptions.parallelism,
        chunkRows: source.snapshotOptions.chunkRows,
        // Keyed tables are read in chunks while streaming, each chunk its own Kafka
        // transaction; `initial_only` stops before streaming, so it reads them here.
        // Chunked windows beside the stream only when asked for (see `snapshotOptions.chunked`).
        chunkKeyedTables: source.snapshot !== 'initial_only' && source.snapshotOptions.chunked,
        maxRecordBytes: source.maxRecordBytes,
        transforms: capture.transforms,
        writer: this.p.ctx.writer,
        offsets: this.p.ctx.offsets,
        topics,
        observer: this.observer,
        logger,
        clock,
      });
      this.stored = await snapshotter.run();
    } finally {
      await exported.connection.end().catch(() => undefined);
    }
  }

  async incremental(): Promise<void> {
    this.incremental_ = await this.incrementalSnapshot();
  }

  async stream(signal: AbortSignal, pauses: TablePauses): Promise<void> {
    const { source, serde, logger, clock } = this.p.o;
    const { catalog, topics, capture, ctx } = this.p;
    const { stored } = this;
    const incremental = this.incremental_ ?? (await this.incrementalSnapshot());
    const stream = new ReplicationStream({
      connection: this.p.config,
      slot: source.slot,
      publication: source.publication,
      // The incremental snapshot's watermarks, resync requests and quarantine replays are logical messages.
      messages: true,
      statusIntervalMs: source.heartbeatIntervalMs,
    });
    ctx.onClose(() => stream.close());
    await stream.start().catch((err: unknown) => {
      throw sourceError(err, source.slot);
    });
    if (stored?.complete && stored.endLsn) stream.acknowledge(parseLsn(stored.endLsn));
    logger.info('streaming', {
      slot: source.slot,
      publication: source.publication,
      resumeAfter: stored
        ? `${stored.commitLsn}#${stored.index}${stored.complete ? ' (complete)' : ''}`
        : null,
    });
    const messages = source.messages ? await MessageTopic.create(capture.prefix, serde, topics) : null;
    const streamer = new Streamer({
      name: source.name,
      db: source.connection.database,
      prefix: capture.prefix,
      slot: source.slot,
      publication: source.publication,
      tableNames: await publishedTableNames(catalog, source.publication),
      stream,
      writer: ctx.writer,
      offsets: ctx.offsets,
      topics,
      catalog,
      fetchToast: toastFetcher(catalog),
      transforms: capture.transforms,
      readRow: rowReader(catalog),
      pauses,
      messages,
      incremental,
      stored,
      maxChangesPerTransaction: source.maxChangesPerTransaction,
      maxRecordBytes: source.maxRecordBytes,
      observer: this.observer,
      logger,
      clock,
    });
    capture.streamer = streamer;
    const retained = setInterval(() => {
      slotWalRetained(catalog, source.slot).then(
        (bytes) => bytes !== null && this.observer.slotWalRetained(bytes),
        () => undefined,
      );
    }, source.heartbeatIntervalMs);
    ctx.onClose(() => clearInterval(retained));
    // ATTACH / DETACH PARTITION write no row changes: compared every heartbeat (partitions.ts).
    const partitions = new PartitionWatcher({
      client: catalog,
      publication: source.publication,
      messagePrefix: `cdc.watermark.${source.name}`,
      logger,
    });
    await partitions.check();
    const watch = setInterval(() => {
      partitions.check().catch((err: unknown) => logger.warn('checking the partitions failed', { err }));
    }, source.heartbeatIntervalMs);
    ctx.onClose(() => clearInterval(watch));
    this.observer.running(true, 'streaming');
    await streamer.run(signal);
    if (!signal.aborted)
      throw new CdcError('SOURCE_UNAVAILABLE', `the replication stream of slot ${source.slot} ended`, {
        retriable: true,
        context: { slot: source.slot },
      });
  }

  /** The incremental snapshot of this session (`incremental-setup.ts`). */
  private incrementalSnapshot(): Promise<IncrementalSnapshot> {
    const { capture, o, ctx, catalog, topics, config } = this.p;
    return openIncrementalSnapshot({
      source: o.source,
      stored: this.stored,
      prefix: capture.prefix,
      transforms: capture.transforms,
      catalog,
      topics,
      config,
      observer: ctx.observer,
      logger: o.logger,
      clock: o.clock,
      onClose: ctx.onClose,
    });
  }
}

/** What the slot says of the history after the stored position. */
function slotHistory(slot: SlotInfo): History {
  if (!slot.exists) return 'absent';
  if (slot.walStatus === 'lost') return 'lost';
  return slot.active ? 'in-use' : 'kept';
}

/**
 * The topics' schemas. Under `schemaEvolution: recreate` an incompatible change has the whole
 * table read again (a resync request, met by the streamer in commit order), so its topic holds
 * every row in the new schema.
 */
function topicSchemas(
  source: PostgresSource,
  serde: AvroSerde,
  admin: CaptureOptions['admin'],
  logger: CaptureOptions['logger'],
  catalog: () => pg.Client | undefined,
): TopicSchemas {
  return new TopicSchemas({
    serde,
    admin,
    policy: source.schemaEvolution,
    onRecreate: async (topic, row) => {
      const table = String(row['cdc.table'] ?? '');
      const client = catalog();
      if (!client || !table) return;
      const body = JSON.stringify({ table, ranges: [{ from: null, to: null, absent: [] }] });
      await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [
        `cdc.watermark.${source.name}`,
        `resync:${body}`,
      ]);
      logger.warn(
        'incompatible schema change: the table is read again into its topic (schemaEvolution: recreate)',
        { table, topic },
      );
    },
    partitions: source.topicPartitions,
    logger,
    connector: 'postgresql',
    envelopeFormat: source.envelope,
    atLeast: recordSizeConfig(source.maxRecordBytes),
  });
}

/** WAL the slot keeps (current LSN minus its restart LSN), in bytes; null without the slot. */
async function slotWalRetained(client: pg.Client, slot: string): Promise<number | null> {
  const { rows } = await client.query<{ bytes: string | null }>(
    'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8::text AS bytes FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  const bytes = rows[0]?.bytes;
  return bytes == null ? null : Number(bytes);
}

/** Reads the current values of `columns` of a row by primary key (for unchanged TOAST values). */
function toastFetcher(client: pg.Client): ToastFetcher {
  return async (table, _key, keyText, columns) => {
    const keys = [...keyText.keys()];
    const cols = columns.map((c) => `"${c.replaceAll('"', '""')}"`).join(', ');
    const where = keys.map((k, i) => `"${k.replaceAll('"', '""')}" = $${i + 1}`).join(' AND ');
    const { rows } = await client.query<(string | null)[]>({
      text: `SELECT ${cols} FROM ${qualified(`${table.schema}.${table.table}`)} WHERE ${where}`,
      values: keys.map((k) => keyText.get(k)),
      rowMode: 'array',
      types: textTypes,
    });
    const row = rows[0];
    if (!row) return null;
    return new Map(columns.map((c, i) => [c, row[i] ?? null]));
  };
}

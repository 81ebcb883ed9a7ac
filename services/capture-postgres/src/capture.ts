/**
 * One PostgreSQL capture: sessions run until stopped (by the service runner, or `run`). A session connects
 * the transactional writer (fencing any predecessor), reads the committed position from the
 * offsets topic, makes sure the publication and slot exist, takes the initial snapshot when
 * the mode asks for one, then streams.
 *
 * Any retriable failure (Kafka or PostgreSQL unavailable, a PostgreSQL restart, a Kafka
 * transaction that failed) ends the session without acknowledging anything more; the next
 * session starts after a backoff with jitter from the position that Kafka has, so nothing
 * is lost and nothing is written twice. Non-retriable failures (slot lost, permissions,
 * incompatible schema under `stop`, fencing) stop the capture with the error.
 */
import type { AvroSerde } from '@cdc/avro';
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
import { CdcError, type Clock, isRetriable, type Logger, parseLsn } from '@cdc/core';
import { type Admin, isRetriableKafkaError, type Kafka, recordSizeConfig } from '@cdc/kafka';
import { type PostgresSource, postgresClientConfig } from '@cdc/pipeline';
import pg from 'pg';
import { type CaptureObserver, noopObserver } from './observer.ts';
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
  slotInfo,
} from './slot.ts';
import { IncrementalSnapshot } from './snapshot/incremental.ts';
import { Snapshotter } from './snapshot/snapshotter.ts';
import type { ToastFetcher } from './streaming/change-records.ts';
import { emitSignal } from './streaming/control-signals.ts';
import { MessageTopic } from './streaming/message-topic.ts';
import { Streamer } from './streaming/streamer.ts';
import { rowReader, TableTransforms } from './streaming/table-transforms.ts';

export interface CaptureOptions {
  source: PostgresSource;
  kafka: Kafka;
  admin: Admin;
  serde: AvroSerde;
  logger: Logger;
  clock: Clock;
  /** Metrics, readiness and traces (default: none). */
  observer?: CaptureObserver;
  /** Where the source is in the pipeline file (`sources.postgres[0]`), for errors that need a fix there. */
  configPath?: string;
  /** The Kafka topic of the control service's commands (pause, resume, resync); absent: none read. */
  signalTopic?: string;
}

export function pgConfig(source: PostgresSource): pg.ClientConfig {
  // pgoutput and the snapshot print values with the session options; the Avro conversion reads them.
  return postgresClientConfig(source, 'capture');
}

const textTypes = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

export class PostgresCapture {
  private readonly o: CaptureOptions;
  private streamer: Streamer | undefined;
  /** Per-table transforms; its gate remembers tables stopped by a rule across sessions. */
  readonly transforms: TableTransforms;

  constructor(options: CaptureOptions) {
    this.o = options;
    const { source } = options;
    this.transforms = new TableTransforms(
      { tables: source.tables, maskSalt: source.maskSalt, source: source.name },
      this.prefix,
      new RowGate(this.observer.quality, options.logger),
    );
  }

  get prefix(): string {
    return this.o.source.topicPrefix ?? this.o.source.name;
  }

  get stats() {
    return this.streamer?.stats;
  }

  private get observer(): CaptureObserver {
    return this.o.observer ?? noopObserver;
  }

  /**
   * Runs sessions until `signal` aborts (resolves) or a failure a new session cannot fix
   * (rejects), on the restart loop the service runner uses too (`runSessions`).
   */
  async run(signal: AbortSignal): Promise<void> {
    const { logger, clock } = this.o;
    await runSessions((s) => this.attempt(s), signal, { retriable: shouldRestart, logger, clock });
  }

  /**
   * One session, until `signal` aborts (resolves), the work is done (`snapshot: initial_only`,
   * resolves) or it fails (rejects, having acknowledged nothing beyond what Kafka committed).
   */
  async attempt(signal: AbortSignal): Promise<void> {
    try {
      const result = await this.session(signal);
      if (result === 'stopped' && !signal.aborted) {
        throw new CdcError(
          'SOURCE_UNAVAILABLE',
          `the replication stream of slot ${this.o.source.slot} ended`,
          {
            retriable: true,
            context: { slot: this.o.source.slot },
          },
        );
      }
    } catch (err) {
      this.observer.streaming(false);
      if (!signal.aborted) this.observer.error(err);
      throw err;
    }
  }

  private async session(signal: AbortSignal): Promise<'finished' | 'stopped'> {
    const { source, kafka, admin, serde, logger, clock } = this.o;
    const config = pgConfig(source);
    const offsets = new OffsetsStore({ kafka, admin, topic: source.offsetsTopic, logger });
    let catalogClient: pg.Client | undefined;
    const topics = new TopicSchemas({
      serde,
      admin,
      policy: source.schemaEvolution,
      // schemaEvolution: recreate: the whole table is read again (a resync request, met by the
      // streamer in commit order), so its topic holds every row in the new schema.
      onRecreate: async (topic, row) => {
        const table = String(row['cdc.table'] ?? '');
        if (!catalogClient || !table) return;
        const body = JSON.stringify({ table, ranges: [{ from: null, to: null, absent: [] }] });
        await catalogClient.query('SELECT pg_logical_emit_message(true, $1, $2)', [
          `cdc.watermark.${source.name}`,
          `resync:${body}`,
        ]);
        logger.warn(
          'incompatible schema change: the table is read again into its topic (schemaEvolution: recreate)',
          {
            table,
            topic,
          },
        );
      },
      partitions: source.topicPartitions,
      logger,
      connector: 'postgresql',
      envelopeFormat: source.envelope,
      atLeast: recordSizeConfig(source.maxRecordBytes),
    });
    const closers: (() => Promise<unknown>)[] = [];
    try {
      await offsets.ensureTopic();
      const writer = await ChangeWriter.connect(kafka, {
        transactionalId: `capture-postgres-${source.name}`,
        logger,
        transactionTimeoutMs: source.snapshotOptions.transactionTimeoutMs,
      });
      closers.push(() => writer.disconnect());
      let stored = await offsets.read<StoredPosition>(captureId(source.name));
      const catalog = new pg.Client(config);
      catalog.on('error', (err) => logger.warn('catalog connection error', { err }));
      await catalog.connect().catch((err: unknown) => {
        throw (
          authenticationError(err, source, this.o.configPath ?? `sources.postgres[${source.name}]`) ??
          sourceError(err, source.slot)
        );
      });
      closers.push(() => catalog.end());
      catalogClient = catalog;
      await ensurePublication(catalog, source.publication, source.include, logger);
      let slot = await slotInfo(catalog, source.slot);
      if (slot.exists && slot.walStatus === 'lost') {
        if (source.snapshot !== 'when_needed')
          throw sourceError(
            new Error(`can no longer get changes from replication slot ${source.slot}`),
            source.slot,
          );
        logger.warn('slot has lost WAL; dropping it for a new snapshot (snapshot: when_needed)', {
          slot: source.slot,
        });
        await dropSlot(catalog, source.slot);
        slot = await slotInfo(catalog, source.slot);
      }
      const snapshotMode = source.snapshot;
      let needSnapshot = false;
      if (snapshotMode === 'never') {
        if (!slot.exists) {
          const lsn = await createSlot(catalog, source.slot);
          logger.info('created replication slot (no snapshot)', { slot: source.slot, lsn });
        }
      } else if (!stored) {
        // Nothing committed: a slot here is the leftover of an interrupted snapshot.
        if (slot.exists) {
          if (slot.active) {
            throw new CdcError(
              'SOURCE_UNAVAILABLE',
              `replication slot ${source.slot} is still in use (pid ${slot.activePid})`,
              {
                retriable: true,
                context: { slot: source.slot },
              },
            );
          }
          logger.warn('dropping the slot of an interrupted snapshot; the snapshot starts again', {
            slot: source.slot,
          });
          await dropSlot(catalog, source.slot);
        }
        needSnapshot = true;
      } else if (!slot.exists) {
        if (snapshotMode !== 'when_needed') {
          throw sourceError(new Error(`replication slot "${source.slot}" does not exist`), source.slot);
        }
        logger.warn('replication slot is gone; taking a new snapshot (snapshot: when_needed)', {
          slot: source.slot,
        });
        needSnapshot = true;
      } else if (snapshotMode === 'initial_only' && stored.snapshot) {
        logger.info('initial snapshot already taken (snapshot: initial_only)');
        return 'finished';
      }
      if (needSnapshot) {
        // Where the snapshot dead-letters rows over maxRecordBytes.
        await topics.ensureTopic(deadLetterTopic(this.prefix));
        if (this.transforms.configured)
          await topics.ensureTopic(this.transforms.quarantineTopic, { 'cleanup.policy': 'compact' });
        const exported = await createSlotWithSnapshot(config, source.slot);
        try {
          const tables = await publicationTables(catalog, source.publication);
          const snapshotter = new Snapshotter({
            name: source.name,
            db: source.connection.database,
            prefix: this.prefix,
            slot: source.slot,
            connection: config,
            snapshotName: exported.snapshotName,
            consistentPoint: exported.consistentPoint,
            tables,
            parallelism: source.snapshotOptions.parallelism,
            chunkRows: source.snapshotOptions.chunkRows,
            // Keyed tables are read in chunks while streaming, each chunk its own Kafka
            // transaction; `initial_only` stops before streaming, so it reads them here.
            // Chunked windows beside the stream only when asked for (see `snapshotOptions.chunked`).
            chunkKeyedTables: snapshotMode !== 'initial_only' && source.snapshotOptions.chunked,
            maxRecordBytes: source.maxRecordBytes,
            transforms: this.transforms,
            writer,
            offsets,
            topics,
            observer: this.observer,
            logger,
            clock,
          });
          stored = await snapshotter.run();
        } finally {
          await exported.connection.end().catch(() => undefined);
        }
        if (snapshotMode === 'initial_only') {
          await dropSlot(catalog, source.slot);
          logger.info('initial snapshot done; slot dropped (snapshot: initial_only)', { slot: source.slot });
          return 'finished';
        }
      }
      if (signal.aborted) return 'stopped';
      const incremental = await this.incrementalSnapshot(stored, catalog, topics, config, closers);
      const stream = new ReplicationStream({
        connection: config,
        slot: source.slot,
        publication: source.publication,
        // The incremental snapshot's watermarks, resync requests and quarantine replays are logical messages.
        messages: true,
        statusIntervalMs: source.heartbeatIntervalMs,
      });
      closers.push(() => stream.close());
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
      const messages = source.messages ? await MessageTopic.create(this.prefix, serde, topics) : null;
      const pauses = new TablePauses({ kafka, admin, prefix: this.prefix, logger });
      await pauses.load();
      if (this.o.signalTopic) {
        // Commands go into the WAL (control-signals.ts), so they act at one point of the stream.
        const channel = new SignalChannel({
          kafka,
          admin,
          topic: this.o.signalTopic,
          source: source.name,
          logger,
        });
        closers.push(() => channel.stop());
        await channel.start((s) => emitSignal(catalog, source.name, s));
      }
      this.streamer = new Streamer({
        name: source.name,
        db: source.connection.database,
        prefix: this.prefix,
        slot: source.slot,
        publication: source.publication,
        tableNames: await publishedTableNames(catalog, source.publication),
        stream,
        writer,
        offsets,
        topics,
        catalog,
        fetchToast: toastFetcher(catalog),
        transforms: this.transforms,
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
      this.observer.streaming(true);
      const retained = setInterval(() => {
        slotWalRetained(catalog, source.slot).then(
          (bytes) => bytes !== null && this.observer.slotWalRetained(bytes),
          () => undefined,
        );
      }, source.heartbeatIntervalMs);
      closers.push(async () => clearInterval(retained));
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
      closers.push(async () => clearInterval(watch));
      await this.streamer.run(signal);
      return 'stopped';
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
    }
  }

  /**
   * Resync requests (`cdc verify --repair`; always listened to), and tables of the include
   * list that no snapshot covered yet (added after the initial
   * snapshot): snapshotted incrementally while streaming. Not with `snapshot: never`, nor
   * without an initial snapshot, nor for `FOR ALL TABLES` (a new table streams from its
   * creation on).
   */
  private async incrementalSnapshot(
    stored: StoredPosition | undefined,
    client: pg.Client,
    topics: TopicSchemas,
    config: pg.ClientConfig,
    closers: (() => Promise<unknown>)[],
  ): Promise<IncrementalSnapshot> {
    const { source, logger } = this.o;
    const pending: string[] = [];
    // The initial snapshot's keyed tables not finished yet: first, in their order.
    const done = new Set(stored?.snapshot?.tables ?? []);
    const initialTables = new Set((stored?.snapshot?.chunked ?? []).filter((t) => !done.has(t)));
    pending.push(...initialTables);
    if (stored?.snapshot && source.snapshot !== 'never' && source.include.length > 0) {
      const covered = new Set(stored.snapshot.tables);
      pending.push(
        ...source.include.map(normaliseTable).filter((t) => !covered.has(t) && !initialTables.has(t)),
      );
    }
    const current = stored?.incremental ?? null;
    if (current && !current.resync && pending.includes(current.table)) {
      pending.splice(pending.indexOf(current.table), 1);
      pending.unshift(current.table);
    }
    if (pending.length > initialTables.size)
      logger.info('tables added to the include list: incremental snapshot', {
        tables: pending.filter((t) => !initialTables.has(t)),
      });
    // Reader connections for the initial snapshot's windows (one range each, at the same time).
    const readers: pg.Client[] = [];
    if (initialTables.size > 0) {
      logger.info('snapshot of keyed tables in chunks', {
        tables: [...initialTables],
        readers: source.snapshotOptions.parallelism,
        chunkRows: source.snapshotOptions.chunkRows,
      });
      closers.push(async () => {
        for (const r of readers.splice(0)) await r.end().catch(() => undefined);
      });
      for (let i = 0; i < source.snapshotOptions.parallelism; i++) {
        const reader = new pg.Client(config);
        reader.on('error', (err) => logger.warn('snapshot reader connection error', { err }));
        await reader.connect();
        readers.push(reader);
      }
    }
    return new IncrementalSnapshot({
      name: source.name,
      db: source.connection.database,
      prefix: this.prefix,
      client,
      topics,
      transforms: this.transforms,
      chunkRows: source.snapshotOptions.incrementalChunkRows,
      readers,
      initialTables,
      initialChunkRows: source.snapshotOptions.chunkRows,
      onInitialDone: () => {
        logger.info('initial snapshot finished: every keyed table is read');
        for (const r of readers.splice(0)) r.end().catch(() => undefined);
      },
      onProgress: (table, done, estimated, rate) =>
        this.observer.snapshotProgress(table, done, estimated, rate),
      pending,
      state: current,
      resync: stored?.resync ?? [],
      logger,
    });
  }
}

const normaliseTable = (t: string) => (t.includes('.') ? t : `public.${t}`);

const RESTARTABLE = new Set([
  'KAFKA_UNAVAILABLE',
  'KAFKA_REQUEST_FAILED',
  'KAFKA_TRANSACTION_FAILED',
  'SOURCE_UNAVAILABLE',
  'SCHEMA_REGISTRY_UNAVAILABLE',
]);

/**
 * Whether a new session may fix it. Restarting is always safe (it resumes from what Kafka
 * committed), so every failure of a server is worth it; configuration, lost positions,
 * fencing, refused schemas and bugs are not.
 */
export function shouldRestart(err: unknown): boolean {
  if (err instanceof CdcError) return err.retriable || RESTARTABLE.has(err.code);
  if (isRetriable(err) || isRetriableKafkaError(err)) return true;
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && /^(E[A-Z]+|08...|57P0[1-3]|53300|40001|40P01)$/.test(e.code))
    return true;
  return /Connection terminated|connection closed|Connection ended|ECONNRE/i.test(e?.message ?? '');
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

/**
 * A refused login (wrong password, unknown user, no `pg_hba.conf` entry) as a failure that
 * restarting cannot fix: it names the keys of the pipeline file to correct. `undefined` for
 * any other error.
 */
export function authenticationError(
  err: unknown,
  source: PostgresSource,
  configPath: string,
): CdcError | undefined {
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  if (e?.code === '28P01' || /password authentication failed/i.test(message))
    return new CdcError(
      'SOURCE_PERMISSION_DENIED',
      `PostgreSQL refused the login of user ${source.connection.user} to ${source.connection.host}:${source.connection.port}/${source.connection.database} (${message}): fix ${configPath}.connection.password (or ${configPath}.connection.user) in the pipeline file and start the capture again`,
      { context: { source: source.name, configKey: `${configPath}.connection.password` }, cause: err },
    );
  if (e?.code === '28000' || /no pg_hba\.conf entry|role .* does not exist/i.test(message))
    return new CdcError(
      'SOURCE_PERMISSION_DENIED',
      `PostgreSQL refused the login of user ${source.connection.user} to ${source.connection.host}:${source.connection.port}/${source.connection.database} (${message}): fix ${configPath}.connection.user in the pipeline file (or allow the user in pg_hba.conf) and start the capture again`,
      { context: { source: source.name, configKey: `${configPath}.connection.user` }, cause: err },
    );
  return undefined;
}

import { CdcError, type Clock, quoteString, systemClock } from '@cdc/core';
import { endOffsets, type Kafka } from '@cdc/kafka';
import type { ClickHouseSinkOptions } from '@cdc/pipeline';
import { TableManager, TRUNCATIONS_TABLE } from './schema/tables.ts';
import { ClickHouseSink, type SinkDeps, tableNameFor } from './sink.ts';
import { matchTopics } from './subscription.ts';

/** What a rebuild needs: the sink's own dependencies. */
export type RebuildDeps = Pick<
  SinkDeps,
  'kafka' | 'registry' | 'transport' | 'tables' | 'options' | 'logger' | 'clock' | 'known'
>;

export interface RebuildResult {
  table: string;
  topics: string[];
  records: number;
  rows: number;
}

/**
 * When the replay is read to the end. A transactional producer leaves a commit marker after its
 * last record: a partition is read to its end once committed there, or one short of it (the
 * slack) once nothing moved for `quietMs`.
 */
export class ReplayProgress {
  private readonly clock: Clock;
  private readonly quietMs: number;
  private seen = -1;
  private quietSince: number;

  constructor(clock: Clock, quietMs = 2_000) {
    this.clock = clock;
    this.quietMs = quietMs;
    this.quietSince = clock.now();
  }

  /** The records handled so far and those buffered now: any of them restarts the quiet time. */
  observe(records: number, buffered: number): void {
    if (records === this.seen && buffered === 0) return;
    this.seen = records;
    this.quietSince = this.clock.now();
  }

  /** How many offsets short of its end a partition may be committed and count as read. */
  get slack(): bigint {
    return this.clock.now() - this.quietSince > this.quietMs ? 1n : 0n;
  }
}

/** The topics the sink writes into `table`: those `sink.topics` selects (as the sink does) whose table it is. */
async function topicsOf(deps: RebuildDeps, table: string): Promise<string[]> {
  const admin = deps.kafka.admin();
  await admin.connect();
  try {
    const { options } = deps;
    const topics = matchTopics(
      options.topics,
      await admin.listTopics(),
      options.deadLetterTopic,
      deps.known,
    ).filter((t) => tableNameFor(options, t) === table);
    if (topics.length > 0) {
      const groups = await admin.describeGroups([deps.options.groupId]);
      const members = groups.groups[0]?.members.length ?? 0;
      if (members > 0)
        throw new CdcError(
          'INVARIANT_VIOLATED',
          `the sink's consumer group ${deps.options.groupId} has ${members} member(s): stop the sink before rebuilding ${table}`,
          { context: { table, groupId: deps.options.groupId } },
        );
    }
    return topics;
  } finally {
    await admin.disconnect();
  }
}

export async function rebuildTable(deps: RebuildDeps, table: string): Promise<RebuildResult> {
  const { transport, tables, logger, kafka } = deps;
  const clock = deps.clock ?? systemClock;
  const topics = await topicsOf(deps, table);
  if (topics.length === 0)
    throw new CdcError(
      'CONFIG_INVALID',
      `no topic of clickhouse.sink.topics writes into table ${table}: check the table name (the topic with . as _, or clickhouse.sink.tables.<topic>.table)`,
      { context: { table } },
    );
  const fresh = `${table}__rebuild`;
  const q = (t: string) => tables.qualified(t);
  const dropFresh = async () => {
    await transport.command(`DROP VIEW IF EXISTS ${q(`${fresh}_history_mv`)}`);
    await transport.command(`DROP VIEW IF EXISTS ${q(`${fresh}_current`)}`);
    await transport.command(`DROP TABLE IF EXISTS ${q(fresh)}`);
    await transport.command(`DROP TABLE IF EXISTS ${q(`${fresh}_history`)}`);
  };
  await tables.init();
  await dropFresh();

  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, Map<number, bigint>>();
  for (const t of topics) ends.set(t, await endOffsets(admin, t));
  const groupId = `${deps.options.groupId}.rebuild.${table}.${clock.now()}`;
  const options: ClickHouseSinkOptions = {
    ...deps.options,
    topics,
    groupId,
    tables: Object.fromEntries(topics.map((t) => [t, { ...deps.options.tables[t], table: fresh }])),
  };
  logger.info('rebuilding table from its topics', {
    table,
    topics,
    records: [...ends.values()].reduce((n, m) => n + [...m.values()].reduce((a, b) => a + b, 0n), 0n),
  });
  // The replay ends with the columns of the topic's newest schema: a type change that stopped
  // the table (no lossless way from the old type) converts the rows written before it.
  const replayTables = new TableManager(transport, tables.database, logger, { convertTypes: true });
  const sink = new ClickHouseSink({ ...deps, tables: replayTables, options });
  try {
    await sink.start();
    const progress = new ReplayProgress(clock);
    for (;;) {
      if (sink.stoppedTables.size > 0) throw [...sink.stoppedTables.values()][0]!;
      progress.observe(sink.totals.records, sink.bufferedRecords);
      if (await caughtUp(admin, groupId, ends, progress.slack)) break;
      await clock.sleep(250);
    }
  } finally {
    await sink.stop();
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }

  // The fresh table exists only if at least one row was written; an empty topic rebuilds an empty table.
  const exists = await transport.query<{ n: number }>(
    `SELECT count() AS n FROM system.tables WHERE database = ${quoteString(tables.database)} AND name = ${quoteString(fresh)}`,
  );
  if (Number(exists[0]?.n) > 0) {
    // The columns of the newest schema the replay met, whatever order it handled records in:
    // the partitions are read in no set order, and a record of an older schema handled after a
    // newer one (another partition's) cast a column back to the older type.
    const newest = replayTables.newestShape(fresh);
    if (newest !== undefined) {
      replayTables.forget(fresh);
      await replayTables.ensure(fresh, newest.shape, newest.shapeId);
    }
  } else {
    await transport.command(`CREATE TABLE ${q(fresh)} AS ${q(table)}`);
    await transport.command(`CREATE TABLE ${q(`${fresh}_history`)} AS ${q(`${table}_history`)}`);
  }
  await transport.command(`DROP VIEW IF EXISTS ${q(`${fresh}_history_mv`)}`);
  await transport.command(`DROP VIEW IF EXISTS ${q(`${fresh}_current`)}`);
  // The current view reads `table` by name: this exchange is the moment it switches to the rebuilt rows.
  await transport.command(`EXCHANGE TABLES ${q(table)} AND ${q(fresh)}`);
  await transport.command(`EXCHANGE TABLES ${q(`${table}_history`)} AND ${q(`${fresh}_history`)}`);
  tables.forget(table);
  tables.forget(fresh);
  await tables.createViews(table, true);
  await dropFresh();
  await transport.command(
    `ALTER TABLE ${q(TRUNCATIONS_TABLE)} DELETE WHERE table_name = ${quoteString(fresh)}`,
  );
  const result = { table, topics, records: sink.totals.records, rows: sink.totals.rows };
  logger.info('table rebuilt', result);
  return result;
}

/** Whether `groupId` has committed every partition up to the end offsets taken at the start. */
async function caughtUp(
  admin: ReturnType<Kafka['admin']>,
  groupId: string,
  ends: Map<string, Map<number, bigint>>,
  slack: bigint,
): Promise<boolean> {
  const committed = await admin.fetchOffsets({ groupId, topics: [...ends.keys()] });
  for (const [topic, partitions] of ends) {
    const got = new Map(
      (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [
        p.partition,
        BigInt(p.offset),
      ]),
    );
    for (const [p, end] of partitions) if (end > 0n && (got.get(p) ?? -1n) < end - slack) return false;
  }
  return true;
}

import type { RegistryClient } from '@cdc/avro';
import { CdcError, type Clock, type Logger, systemClock } from '@cdc/core';
import { type Admin, ensureTopics, type Kafka } from '@cdc/kafka';
import type { ProcessingSection } from '@cdc/pipeline';
import { KafkaStreams, type StreamsMetrics, type Topology } from '@cdc/streams';
import { avroTopologyIo } from './avro-io.ts';
import { InteractiveQueries, type QueryTarget } from './interactive-queries.ts';
import { Membership } from './membership.ts';
import type { ProcessorObserver } from './observer.ts';
import { QueryRegistry } from './query-registry.ts';
import { buildTopology, inputTopics, names, type TopologyIo } from './topology.ts';

export interface ProcessorAppOptions {
  section: ProcessingSection;
  kafka: Kafka;
  registry: RegistryClient;
  logger: Logger;
  clock?: Clock;
  /** Overrides `section.stateDir` (tests run two instances on one machine). */
  stateDir?: string;
  /** Consumer group session timeout (how soon a killed instance's tasks move); default 30 s. */
  sessionTimeoutMs?: number;
  /** JSON instead of Avro (no registry use): for tests. */
  io?: TopologyIo;
  /** Counts and traces records (see observer.ts); `kafka` should then count transactions (transaction-counter.ts). */
  observer?: ProcessorObserver;
  /** Awaited just before the consumer joins the group (stream threads join together, see threads.ts). */
  beforeJoin?: () => Promise<void>;
}

/**
 * The heartbeat of each stream thread when a process runs several: they join the group one after
 * the other at start, and each learns of the next one's join at its next heartbeat.
 */
const THREADS_HEARTBEAT_MS = 500;

/**
 * One processor instance: registers the output schemas, creates the output topics, builds the
 * topology from the declarations, runs it on `KafkaStreams` (exactly-once), and serves
 * interactive queries. Several instances with the same `applicationId` share the partitions.
 */
export class ProcessorApp {
  private readonly options: ProcessorAppOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private streams: KafkaStreams | undefined;
  private http: InteractiveQueries | undefined;
  private membership: Membership | undefined;
  private announcer: NodeJS.Timeout | undefined;
  private url = '';
  topology: Topology | undefined;

  constructor(options: ProcessorAppOptions) {
    this.options = options;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
  }

  get state(): string {
    return this.streams?.state ?? 'created';
  }

  get error(): unknown {
    return this.streams?.error;
  }

  /** Where interactive queries are answered (empty when disabled). */
  get queryUrl(): string {
    return this.url;
  }

  /** This instance's id in the interactive-query membership (empty when queries are off). */
  get instanceId(): string {
    return this.membership?.instanceId ?? '';
  }

  /** The runtime's counters (processed, late, dead-lettered, skipped records). */
  get runtimeMetrics(): StreamsMetrics | undefined {
    return this.streams?.metrics;
  }

  get assignedTasks(): string[] {
    return this.streams?.assignedTasks ?? [];
  }

  async start(): Promise<void> {
    const { section, kafka, registry, logger } = this.options;
    // Independent: the registry's schemas and the Kafka output topics, at the same time.
    const [io, partitions] = await Promise.all([
      this.options.io ?? avroTopologyIo(section, registry, logger),
      this.ensureOutputTopics(),
    ]);
    const queries = new QueryRegistry();
    const now = () => this.clock.now();
    const observer = this.options.observer;
    const topology = buildTopology(section, { io, now, queries, ...(observer ? { observer } : {}) });
    this.topology = topology;

    this.streams = new KafkaStreams(topology, {
      applicationId: section.applicationId,
      kafka,
      stateDir: this.options.stateDir ?? section.stateDir,
      logger,
      clock: this.clock,
      commitIntervalMs: section.commitIntervalMs,
      processingGuarantee: section.guarantee,
      ...(this.options.sessionTimeoutMs ? { sessionTimeoutMs: this.options.sessionTimeoutMs } : {}),
      ...(section.threads > 1 ? { heartbeatIntervalMs: THREADS_HEARTBEAT_MS } : {}),
      ...(this.options.beforeJoin ? { beforeJoin: this.options.beforeJoin } : {}),
    });
    await this.streams.start();

    if (section.http.enabled) {
      const targets: QueryTarget[] = section.aggregate.map((decl) => {
        const st = topology.subtopologies.find((s) =>
          s.stores.some((x) => x.name === names.aggregateStore(decl.name)),
        );
        if (!st) throw new CdcError('INVARIANT_VIOLATED', `no subtopology holds the store of ${decl.name}`);
        return { decl, subtopology: st.id, partitions: partitions.get(decl.name) as number };
      });
      this.membership = new Membership(kafka, section.applicationId, logger);
      await this.membership.start();
      this.http = new InteractiveQueries({ targets, queries, membership: this.membership, logger, now });
      const bound = await this.http.listen(section.http.host, section.http.port);
      this.url = section.http.advertisedUrl ?? bound;
      const announce = () =>
        void this.membership
          ?.announce(this.url, this.streams?.assignedTasks ?? [])
          .catch((err) => logger.warn('announcing tasks failed', { err: String(err) }));
      announce();
      this.announcer = setInterval(announce, 500);
      logger.info('interactive queries listening', { url: this.url });
    }
  }

  /**
   * Output topics with as many partitions as the aggregate's input; returns those counts. Fails,
   * retriably and naming them, while an input topic does not exist (see `missingInputTopics`).
   */
  private async ensureOutputTopics(): Promise<Map<string, number>> {
    const { section, kafka } = this.options;
    const admin = kafka.admin();
    await admin.connect();
    try {
      const missing = await missingInputTopics(admin, section);
      if (missing.length > 0) throw inputTopicsMissing(missing);
      const sources = new Map(section.enrich.map((e) => [e.name, e.from]));
      const inputs = [...new Set(section.aggregate.map((a) => sources.get(a.from) ?? a.from))];
      const meta = await admin.fetchTopicMetadata({ topics: inputs });
      const counts = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
      const byAggregate = new Map(
        section.aggregate.map((a) => [a.name, counts.get(sources.get(a.from) ?? a.from) as number]),
      );
      await ensureTopics(
        admin,
        section.aggregate.map((a) => ({ topic: a.topic, numPartitions: byAggregate.get(a.name) as number })),
      );
      return byAggregate;
    } finally {
      await admin.disconnect();
    }
  }

  /** Stops consuming, commits or aborts what is open, checkpoints the stores, closes. */
  async close(): Promise<void> {
    if (this.announcer) clearInterval(this.announcer);
    try {
      await this.http?.close();
    } finally {
      // Whatever the listener did: the stores' LevelDB folders must be released for the next attempt.
      await this.streams?.close();
      await this.membership?.stop(this.url);
    }
  }
}

/**
 * The input topics of these declarations that do not exist yet. Services start in any order, and
 * a capture creates a table's topic only once it captures the table; without this check the
 * processor's first failure was kafkajs' "This server does not host this topic-partition" from
 * sizing its output topics, which names neither the topic nor the cause.
 */
export async function missingInputTopics(admin: Admin, section: ProcessingSection): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  return inputTopics(section).filter((t) => !existing.has(t));
}

/** What to tell the user while input topics are missing. */
export function missingInputsMessage(missing: readonly string[]): string {
  const [s, verb] = missing.length > 1 ? ['s', 'do'] : ['', 'does'];
  return `input topic${s} ${missing.join(', ')} ${verb} not exist yet: a capture creates a table's topic when it starts capturing the table (is the capture running, and does it capture that table? Or is the topic misspelled in the processing section?)`;
}

function inputTopicsMissing(missing: readonly string[]): CdcError {
  return new CdcError('KAFKA_TOPIC_INVALID', missingInputsMessage(missing), {
    retriable: true,
    context: { missing },
  });
}

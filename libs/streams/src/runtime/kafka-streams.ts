import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CdcError, type Clock, isCdcError, type Logger, systemClock } from '@cdc/core';
import {
  type Admin,
  type Consumer,
  type ConsumerGroupMetadata,
  ensureTopics,
  type Kafka,
  type TopicSpec,
  TransactionalProducer,
} from '@cdc/kafka';
import { defaultErrorHandlers, type ErrorHandlers } from '../error-handlers.ts';
import { newMetrics, type StreamsMetrics } from '../internals/task.ts';
import type { Subtopology, Topology } from '../topology.ts';
import { replaceFile } from './checkpoint.ts';
import { Committer } from './committer.ts';
import { GlobalTables } from './global-tables.ts';
import { planPartitions } from './partition-plan.ts';
import { type CloseMode, RuntimeTask } from './runtime-task.ts';

/** A task the consumer group assigned to this instance: its subtopology and input partition. */
interface AssignedTask {
  st: Subtopology;
  partition: number;
}

export interface KafkaStreamsOptions {
  /** Names the consumer group, the internal topics (`<applicationId>-…`) and the state folder. */
  applicationId: string;
  kafka: Kafka;
  /**
   * Where LevelDB stores live: `<stateDir>/<applicationId>/<taskId>/<store>`, and the global
   * tables in `<stateDir>/<applicationId>/global/<store>`.
   */
  stateDir: string;
  logger: Logger;
  clock?: Clock;
  errorHandlers?: Partial<ErrorHandlers>;
  /** How often wall-clock punctuations are checked (default 1000 ms). */
  punctuateIntervalMs?: number;
  /**
   * At most how long processed records wait for their transaction (default 100 ms, as Kafka
   * Streams under exactly-once): every batch processed within it shares one commit, instead of
   * a transaction per fetched batch. Lower: less latency per hop; 0: a commit per batch.
   */
  commitIntervalMs?: number;
  /**
   * How tasks commit (Kafka Streams' `processing.guarantee`):
   * - `exactly_once_v2` (default): one transactional producer for the whole instance, one
   *   transaction per commit for all its tasks, their offsets fenced by the consumer group's
   *   generation (KIP-447). Its transactional id, `<applicationId>-<process id>`, is kept in the
   *   state directory, so a restart on the same state fences the previous run at once.
   * - `exactly_once`: a transactional producer per task (`<applicationId>-<taskId>`), fenced by
   *   transactional id, one transaction per task and commit.
   */
  processingGuarantee?: 'exactly_once' | 'exactly_once_v2';
  /**
   * Broker-side limit on an open transaction (default 10 s under exactly_once_v2, as Kafka
   * Streams sets it; 60 s under exactly_once): how long a dead instance's open transaction holds
   * back the readers of what it wrote, and the next owner of its tasks.
   */
  transactionTimeoutMs?: number;
  /** Consumer group session timeout (default 30 s): how long a dead instance keeps its partitions. */
  sessionTimeoutMs?: number;
  /**
   * How often the consumer heartbeats (default a third of the session, at most 3 s). A member
   * learns of a rebalance from a heartbeat's answer: stream threads that join one after the other
   * at start settle sooner with a shorter interval.
   */
  heartbeatIntervalMs?: number;
  /**
   * Awaited once the global tables are loaded, just before the consumer joins the group: the
   * stream threads of one process wait for each other there, so that they join together.
   */
  beforeJoin?: () => Promise<void>;
  /** Partitions per changelog/repartition topic replication factor; default the broker's. */
  replicationFactor?: number;
}

/**
 * Where the fetch that returned a batch started. kafkajs keeps it on the batch without typing it;
 * the first offset returned (control records included) is the same unless the fetch offset was
 * compacted away.
 */
function fetchedOffsetOf(batch: { firstOffset(): string | null; messages: { offset: string }[] }): number {
  const fetched = (batch as { fetchedOffset?: string | number }).fetchedOffset;
  if (fetched !== undefined) return Number(fetched);
  return Number(batch.firstOffset() ?? batch.messages[0]?.offset ?? -1);
}

export type KafkaStreamsState = 'created' | 'starting' | 'running' | 'closing' | 'closed' | 'failed';

/**
 * Whether the tasks' stores are sound after the application failed with `err`: a failure that
 * came from Kafka (a transaction, a fetch, a request the cluster refused or did not answer)
 * leaves LevelDB holding exactly what committed transactions wrote, so the stores are kept under
 * a checkpoint and the restart restores only what follows it. Any other failure (a store, a
 * processor, a serde) may lie in local state: the stores are wiped and restored whole.
 */
export function leavesStoresSound(err: unknown): boolean {
  if (err instanceof CdcError) return err.code.startsWith('KAFKA_');
  const name = (err as { name?: unknown } | null | undefined)?.name;
  return typeof name === 'string' && name.startsWith('KafkaJS');
}

/**
 * Runs a topology over Kafka.
 *
 * Exactly-once model (`processingGuarantee`): one task per subtopology and input partition. Under
 * exactly_once_v2 (default) the instance has one transactional producer
 * (`<applicationId>-<process id>`, the id kept in the state directory) and each commit takes
 * every task's outputs, changelog writes and input offsets into one transaction; the offsets
 * carry the consumer's group generation, so the group coordinator refuses them once the group
 * has moved on, and a task's new owner reads its committed offsets stably (waiting out a
 * transaction that commits them) before it restores its stores: it starts from exactly the
 * committed state, and a zombie's late commit is refused. Under exactly_once each task has its
 * own producer (`<applicationId>-<taskId>`); whoever opens the task first initializes that id,
 * which fences the previous owner (a zombie's next send or commit fails with `KAFKA_FENCED`) and
 * aborts its open transaction (Kafka Streams' former "eos-alpha").
 *
 * A commit's transaction is taken synchronously (outputs, changelog records, offsets) and
 * committed while the tasks process their next batches; the next commit waits for it, and its
 * failure fails the next batch, commit or close of every task that shared it (see `Committer`).
 *
 * Local state: a store's writes reach LevelDB only once the transaction holding them has
 * committed, so a task's stores hold nothing but committed state, and a checkpoint of
 * changelog offsets is written when the task closes (after its last commit on a clean close;
 * its uncommitted work dropped when it was lost to a rebalance or its transaction failed), and
 * deleted when the task opens; a task that finds none (a crash, `kill -9`, an application that
 * failed for a cause outside Kafka: `leavesStoresSound`) wipes its LevelDB folder and restores
 * it from the changelog.
 */
export class KafkaStreams {
  private readonly topology: Topology;
  private readonly options: KafkaStreamsOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly handlers: ErrorHandlers;
  private admin: Admin | undefined;
  private consumer: Consumer | undefined;
  private globals: GlobalTables | undefined;
  private readonly tasks = new Map<string, RuntimeTask>();
  private readonly opening = new Map<string, Promise<RuntimeTask>>();
  /**
   * exactly_once_v2: counts the group joins after a gap (this member was removed from the group
   * and joined again). A task whose opening began before such a join read its input positions
   * and restored its stores while another member may have owned and advanced it: it is closed
   * without a checkpoint when it is ready, and opened again.
   */
  private gaps = 0;
  /** Tasks being closed: the next open of the same task waits for it (its LevelDB folder is locked). */
  private readonly closing = new Map<string, Promise<void>>();
  private readonly subtopologyByTopic = new Map<string, Subtopology>();
  private timer: NodeJS.Timeout | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  /** exactly_once_v2: the instance's committer, shared by all its tasks. */
  private committer: Committer | undefined;
  /** The consumer's generation and member id, from its last group join. */
  private group: ConsumerGroupMetadata | undefined;
  /** Tasks being dropped and reopened after the group moved on under a transaction. */
  private migrating: Promise<boolean> | undefined;
  /** When the shared producer was last renewed after being fenced (exactly_once_v2). */
  private renewals: number[] = [];

  private get commitIntervalMs(): number {
    return this.options.commitIntervalMs ?? 100;
  }

  private get v2(): boolean {
    return (this.options.processingGuarantee ?? 'exactly_once_v2') === 'exactly_once_v2';
  }

  private get transactionTimeoutMs(): number {
    return this.options.transactionTimeoutMs ?? (this.v2 ? 10_000 : 60_000);
  }
  private failure: unknown;
  /** The tasks the consumer group assigned here, by id (`<subtopology>_<partition>`). */
  private assignment = new Map<string, AssignedTask>();
  /** The consumer's heartbeat, as the last batch handed it over. */
  private heartbeat: (() => Promise<void>) | undefined;
  private currentState: KafkaStreamsState = 'created';
  readonly metrics: StreamsMetrics = newMetrics();

  constructor(topology: Topology, options: KafkaStreamsOptions) {
    if (!/^[A-Za-z0-9._-]+$/.test(options.applicationId)) {
      throw new CdcError(
        'CONFIG_INVALID',
        `applicationId "${options.applicationId}" may only hold letters, digits, '.', '_' and '-'`,
        {
          context: { applicationId: options.applicationId },
        },
      );
    }
    this.topology = topology;
    this.options = options;
    this.logger = options.logger.child({ app: options.applicationId, host: hostname() });
    this.clock = options.clock ?? systemClock;
    this.handlers = { ...defaultErrorHandlers, ...options.errorHandlers };
  }

  get state(): KafkaStreamsState {
    return this.currentState;
  }

  /** The error that stopped the application, when `state` is `failed`. */
  get error(): unknown {
    return this.failure;
  }

  /** Task ids the consumer group assigned here (`<subtopology>_<partition>`); each opens at its first batch. */
  get assignedTasks(): string[] {
    return [...this.assignment.keys()].sort();
  }

  /** Task ids open here (stores restored, producer initialized). */
  get openTasks(): string[] {
    return [...this.tasks.keys()].sort();
  }

  private topicName = (topic: string, internal: boolean): string =>
    internal ? `${this.options.applicationId}-${topic}` : topic;

  async start(): Promise<void> {
    if (this.currentState !== 'created')
      throw new CdcError('INVARIANT_VIOLATED', `cannot start a KafkaStreams that is ${this.currentState}`);
    this.currentState = 'starting';
    const { kafka, applicationId } = this.options;
    const admin = kafka.admin();
    this.admin = admin;
    await admin.connect();
    const external = [
      ...new Set(
        this.topology.subtopologies.flatMap((st) =>
          st.sources.filter((s) => !s.internal).flatMap((s) => s.topics),
        ),
      ),
    ];
    const existing = new Set(await admin.listTopics());
    const partitions = new Map<string, number>();
    const present = external.filter((t) => existing.has(t));
    if (present.length > 0) {
      const meta = await admin.fetchTopicMetadata({ topics: present });
      for (const t of meta.topics) partitions.set(t.name, t.partitions.length);
    }
    const plan = planPartitions(this.topology, partitions, this.topicName);
    const rf =
      this.options.replicationFactor === undefined
        ? {}
        : { replicationFactor: this.options.replicationFactor };
    const specs: TopicSpec[] = [...plan.repartitionTopics].map(([topic, n]) => ({
      topic,
      numPartitions: n,
      ...rf,
    }));
    for (const st of this.topology.subtopologies) {
      for (const store of st.stores) {
        if (!store.logged) continue;
        specs.push({
          topic: this.topicName(`${store.name}-changelog`, true),
          numPartitions: plan.partitions.get(st.id) as number,
          ...rf,
          config: { 'cleanup.policy': 'compact' },
        });
      }
      for (const s of st.sources)
        for (const t of s.topics) this.subtopologyByTopic.set(this.topicName(t, s.internal), st);
    }
    // One after the other: kafkajs's admin is not safe for a topic creation beside an offsets
    // lookup (its shared metadata changes under the lookup, which then fails with a TypeError).
    await ensureTopics(admin, specs);
    this.globals = new GlobalTables(kafka, this.topology.globals, this.logger, {
      dir: join(this.options.stateDir, applicationId, 'global'),
    });
    await this.globals.start(admin, (err) => this.fail(err));
    if (this.v2) {
      const transactionalId = `${applicationId}-${await this.processId()}`;
      this.committer = await Committer.open({
        connect: () =>
          TransactionalProducer.connect(kafka, {
            transactionalId,
            transactionTimeoutMs: this.transactionTimeoutMs,
            logger: this.logger,
          }),
        groupId: applicationId,
        commitIntervalMs: this.commitIntervalMs,
        wallClock: () => this.clock.now(),
        group: () => this.group,
      });
      this.logger.info('exactly_once_v2: one transactional producer for all tasks', { transactionalId });
    }

    const consumer = kafka.consumer({
      groupId: applicationId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval:
        this.options.heartbeatIntervalMs ??
        Math.min(3_000, Math.floor((this.options.sessionTimeoutMs ?? 30_000) / 3)),
      maxWaitTimeInMs: 500,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const { generationId, memberId, memberAssignment } = e.payload as typeof e.payload & {
        generationId: number;
      };
      // At once, before anything else runs: the work of tasks revoked here was processed under
      // the previous generation and can no longer be committed (their partitions may already
      // belong to another member, which reads their offsets stably); it is dropped, and the
      // transactions from here on carry the new generation. A task is kept only when this member
      // went straight from the previous generation to this one: after a gap (the member was
      // removed from the group, as when frozen past its session, and joined again), another
      // member may have owned and advanced every task meanwhile, so all of them are lost and
      // reopened from what was committed (Kafka Streams' onPartitionsLost).
      const previous = this.group;
      const continuous =
        previous !== undefined &&
        previous.memberId === memberId &&
        generationId === previous.generationId + 1;
      const lost =
        this.committer === undefined
          ? []
          : continuous
            ? this.revokedBy(memberAssignment)
            : [...this.tasks.values()];
      for (const task of lost) this.committer?.delete(task);
      this.group = { generationId, memberId };
      if (this.committer !== undefined && !continuous) {
        this.gaps += 1;
        // Openings under way (as recovered() starts them for the assignment this member had
        // before it learnt it was removed) are superseded: the next open of each task waits
        // for its stale opening to be ready and closed (it holds the task's LevelDB folder).
        for (const [id, stale] of this.opening) {
          this.opening.delete(id);
          void this.closingUntil(id, stale);
        }
      }
      if (lost.length > 0 && !continuous)
        this.logger.warn('rejoined the group after a gap; every task restarts from what was committed', {
          generationId,
          previousGeneration: previous?.generationId,
        });
      void this.onAssignment(memberAssignment, new Set(lost)).catch((err) => this.fail(err));
    });
    // A fetch that held only transaction markers (or aborted records) never reaches eachBatch: the
    // task's input position moves past it, committed with its next commit, as Kafka Streams
    // commits the consumer's position (several tasks writing one repartition topic leave several
    // markers at its end, which would otherwise stay as lag). kafkajs never fetches those offsets
    // again, so the skip must not be lost: a task still opening (restoring its stores) takes it
    // once open, as one with no position yet does (a partition whose only records so far belong
    // to an aborted transaction: a writer killed or fenced mid-transaction).
    consumer.on(consumer.events.START_BATCH_PROCESS, (e) => {
      const { topic, partition, batchSize, lastOffset } = e.payload;
      if (batchSize !== 0 || !this.live) return; // failed or closing: no task opens any more
      const st = this.subtopologyByTopic.get(topic);
      if (!st || !this.assignment.has(`${st.id}_${partition}`)) return; // revoked meanwhile
      const offset = Number(lastOffset) + 1;
      void this.openTask(st, partition).then(
        (task) => task.skipTo(topic, offset).catch((err) => this.fail(err)),
        (err: unknown) => {
          if (isCdcError(err, 'KAFKA_FENCED')) return; // someone else owns it now
          this.logger.warn('opening a task failed; its input stays at the last committed position', {
            task: `${st.id}_${partition}`,
            err,
          });
        },
      );
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.fail(e.payload.error);
    });
    await consumer.connect();
    await this.options.beforeJoin?.();
    // A new application starts from the beginning of its inputs (Kafka Streams' default).
    await consumer.subscribe({ topics: [...this.subtopologyByTopic.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        // Closing: what is processed now could not be committed any more (see close).
        if (this.currentState === 'closing') return;
        this.heartbeat = heartbeat;
        const task = await this.taskFor(batch.topic, batch.partition);
        try {
          const { seekTo } = await task.processBatch(
            batch.topic,
            fetchedOffsetOf(batch),
            batch.messages,
            Number(batch.lastOffset()),
          );
          if (seekTo !== undefined)
            consumer.seek({ topic: batch.topic, partition: batch.partition, offset: String(seekTo) });
          // The batch is committed (offsets in its transaction): move the fetch position past
          // it. Without this kafkajs fetches from the group-join position again and again, and
          // stalls once the processed offset is more than one fetch (1 MiB) ahead of it.
          // (autoCommit is off, so kafkajs itself never commits what is resolved here.)
          else resolveOffset(batch.lastOffset());
        } catch (err) {
          if (this.committer !== undefined) {
            if (await this.recovered(err)) return;
            throw err;
          }
          const fenced = isCdcError(err, 'KAFKA_FENCED');
          // The first failure is the one to report: a punctuation queued on this task would
          // fail next, on the producer this failure left unusable.
          if (!fenced) this.fail(err);
          // Failed in Kafka (fenced: another instance owns it now), its stores hold what it
          // committed: kept under a checkpoint for its return.
          await this.dropTask(task, leavesStoresSound(err) ? 'lost' : 'dirty');
          if (fenced) {
            // Another instance owns this task now; its next rebalance tells us so.
            this.logger.warn('task fenced by its new owner; dropped', { task: task.id });
            return;
          }
          throw err;
        }
      },
    });
    const every = this.options.punctuateIntervalMs ?? 1_000;
    const onError = (err: unknown) => {
      if (this.committer === undefined) this.fail(err);
      else void this.recovered(err);
    };
    this.timer = setInterval(() => {
      for (const t of this.tasks.values()) void t.punctuate().catch(onError);
    }, every);
    const commitEvery = this.commitIntervalMs;
    if (commitEvery > 0)
      this.commitTimer = setInterval(() => {
        for (const t of this.tasks.values()) void t.commitIfDue().catch(onError);
      }, commitEvery);
    this.currentState = 'running';
    this.logger.info('streams application started', { subtopologies: this.topology.subtopologies.length });
  }

  /**
   * The state directory's process id (created at the first start): the instance's transactional
   * id under exactly_once_v2, so that a restart on the same state fences the previous run (and
   * aborts its open transaction) at once instead of after the transaction timeout.
   */
  private async processId(): Promise<string> {
    const dir = join(this.options.stateDir, this.options.applicationId);
    const file = join(dir, '.process-id');
    const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
    if (/^[A-Za-z0-9-]{8,64}$/.test(existing)) return existing;
    const id = randomUUID();
    await mkdir(dir, { recursive: true });
    await replaceFile(file, id);
    return id;
  }

  /** The tasks of a consumer's assignment (topic → partitions), by id. */
  private tasksOf(assignment: Record<string, number[]>): Map<string, AssignedTask> {
    const tasks = new Map<string, AssignedTask>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      const st = this.subtopologyByTopic.get(topic);
      if (st) for (const partition of partitions) tasks.set(`${st.id}_${partition}`, { st, partition });
    }
    return tasks;
  }

  /** The open tasks whose partitions `assignment` does not hold. */
  private revokedBy(assignment: Record<string, number[]>): RuntimeTask[] {
    const keep = this.tasksOf(assignment);
    return [...this.tasks.values()].filter((t) => !keep.has(t.id));
  }

  /**
   * exactly_once_v2: handles a failure of a task or of the shared transaction. Fenced: the group
   * coordinator refused a transaction's offsets (the group moved to a newer generation while it
   * was on its way), or the broker aborted a transaction that outlived its timeout and fenced
   * its producer (the instance was frozen, or starved of CPU, past it). Every task's
   * uncommitted work is gone with that transaction, so every task is dropped and opened again
   * from what was committed (the consumer moved back to the committed offsets), on a new
   * producer session if it was fenced: as Kafka Streams handles a TaskMigratedException. The
   * stores are kept under a checkpoint (LevelDB never held the failed transaction's writes):
   * each task restores only what its changelog holds past it, not the whole changelog.
   * Returns whether the application goes on; any other failure fails it.
   */
  private async recovered(err: unknown): Promise<boolean> {
    const committer = this.committer;
    if (!isCdcError(err, 'KAFKA_FENCED') || committer === undefined || !this.live) {
      this.fail(err);
      return false;
    }
    const byGroup = (err as { context?: Record<string, unknown> }).context?.fencedBy === 'group-generation';
    this.migrating ??= (async () => {
      this.logger.warn(
        byGroup
          ? 'the consumer group moved on while a transaction was on its way; its work is dropped and every task restarts from what was committed'
          : "this instance's producer was fenced (a transaction outlived its timeout); its work is dropped and every task restarts from what was committed, on a new producer session",
        { err },
      );
      for (const task of [...this.tasks.values()]) await this.dropTask(task, 'lost');
      if (byGroup) committer.reset();
      else {
        // A live instance with the same transactional id (another process on this state
        // directory) would fence this one again at once, and be fenced by its renewal.
        const now = Date.now();
        this.renewals = [...this.renewals.filter((t) => now - t < 60_000), now];
        if (this.renewals.length >= 3)
          throw new CdcError(
            'CONFIG_INVALID',
            `the producer of ${this.options.applicationId} was fenced ${this.renewals.length} times within a minute: another instance runs on the same state directory (${this.options.stateDir}); give each instance its own processing.stateDir`,
            { cause: err },
          );
        await committer.renew();
      }
      for (const [id, { st, partition }] of this.assignment) {
        try {
          const task = await this.openTask(st, partition);
          if (task.isClosed) continue; // superseded by a group join meanwhile
          for (const [topic, offset] of task.positions())
            if (offset >= 0 && this.assignment.has(id))
              this.consumer?.seek({ topic, partition, offset: String(offset) });
        } catch (openErr) {
          this.logger.warn('reopening a task failed; its first batch tries again', {
            task: id,
            err: openErr,
          });
        }
      }
      return true;
    })()
      .catch((recoveryErr: unknown) => {
        this.fail(recoveryErr);
        return false;
      })
      .finally(() => {
        this.migrating = undefined;
      });
    return this.migrating;
  }

  /** Starting or running: neither failed nor closing. */
  private get live(): boolean {
    return this.currentState === 'starting' || this.currentState === 'running';
  }

  private async taskFor(topic: string, partition: number): Promise<RuntimeTask> {
    const st = this.subtopologyByTopic.get(topic) as Subtopology;
    return this.openTask(st, partition);
  }

  /** The open task of a subtopology and partition, opening it (fence, restore) if needed. */
  private async openTask(st: Subtopology, partition: number): Promise<RuntimeTask> {
    const id = `${st.id}_${partition}`;
    const running = this.tasks.get(id);
    if (running && !running.isClosed) return running;
    let opening = this.opening.get(id);
    if (!opening) {
      const closed = this.closing.get(id) ?? Promise.resolve();
      const gaps = this.gaps;
      const started: Promise<RuntimeTask> = closed.then(() =>
        RuntimeTask.open({
          kafka: this.options.kafka,
          admin: this.admin as Admin,
          applicationId: this.options.applicationId,
          subtopology: st,
          partition,
          stateDir: this.options.stateDir,
          topicName: this.topicName,
          handlers: this.handlers,
          logger: this.logger,
          metrics: this.metrics,
          wallClock: () => this.clock.now(),
          globalStores: this.globals?.stores ?? new Map(),
          transactionTimeoutMs: this.transactionTimeoutMs,
          ...(this.committer ? { committer: this.committer } : {}),
          commitIntervalMs: this.commitIntervalMs,
          // A restore can outlast the session: keep the group membership alive meanwhile.
          onProgress: () => (this.heartbeat ? this.heartbeat().catch(() => {}) : Promise.resolve()),
        }).then(async (task) => {
          if (this.opening.get(id) === started) this.opening.delete(id);
          if (gaps !== this.gaps) {
            // Opened for a membership that ended: its positions and stores may be behind what
            // the task's owner meanwhile committed (see `gaps`).
            this.logger.info('a task opened before this member rejoined the group is reopened', { task: id });
            // No checkpoint: its restore may have stopped below a transaction still open then.
            await task.close('dirty').catch(() => {});
            return task;
          }
          const stopping = this.currentState === 'closing' || this.currentState === 'closed';
          if (!this.assignment.has(id) || stopping) {
            // Revoked (or closing) while it opened: hand it back at once.
            await task.close('clean').catch(() => {});
            return task;
          }
          this.tasks.set(id, task);
          return task;
        }),
      );
      started.catch(() => {
        if (this.opening.get(id) === started) this.opening.delete(id);
      });
      this.opening.set(id, started);
      opening = started;
    }
    return opening;
  }

  /**
   * After a rebalance: closes (cleanly) the tasks whose partitions moved elsewhere, and opens
   * the new ones at once rather than at their first record. Opening a task initializes its
   * transactional id, which aborts a transaction its previous owner left open when it died: until
   * then that transaction holds back every read_committed reader of the topics it wrote (the
   * repartition topic, the changelogs, the outputs) for up to the transaction timeout, and a task
   * whose input was fully committed would never see a first record to open it.
   */
  private async onAssignment(
    assignment: Record<string, number[]>,
    lost: ReadonlySet<RuntimeTask>,
  ): Promise<void> {
    const keep = this.tasksOf(assignment);
    this.assignment = keep;
    // Lost tasks (exactly_once_v2: revoked, or all after a gap) drop what they processed since
    // their last commit, which can no longer be committed, and keep their stores when those hold
    // exactly what was committed (see RuntimeTask.close).
    for (const [id, task] of this.tasks) {
      if (lost.has(task)) await this.dropTask(task, 'lost');
      else if (!keep.has(id)) await this.dropTask(task, 'clean');
    }
    this.logger.info('partitions assigned', { tasks: [...keep.keys()].sort() });
    await Promise.all(
      [...keep.values()].map(({ st, partition }) =>
        this.openTask(st, partition).catch((err: unknown) => {
          // Its first batch tries again; a task fenced meanwhile belongs to someone else now.
          this.logger.warn('opening a task on assignment failed', { task: `${st.id}_${partition}`, err });
        }),
      ),
    );
  }

  private async dropTask(task: RuntimeTask, mode: CloseMode): Promise<void> {
    if (this.tasks.get(task.id) === task) this.tasks.delete(task.id);
    await this.closingUntil(
      task.id,
      task.close(mode).catch((err) => this.logger.warn('closing task failed', { task: task.id, err })),
    );
  }

  /** Task `id` counts as closing until `done` settles: its next open waits for that (`closing`). */
  private closingUntil(id: string, done: Promise<unknown>): Promise<void> {
    const closed = done.then(
      () => {},
      () => {},
    );
    this.closing.set(id, closed);
    return closed.then(() => {
      if (this.closing.get(id) === closed) this.closing.delete(id);
    });
  }

  private fail(err: unknown): void {
    if (this.currentState === 'failed' || this.currentState === 'closed') return;
    this.failure = err;
    this.currentState = 'failed';
    this.logger.error('streams application failed; restart it (state is rebuilt from Kafka)', { err });
  }

  /** Stops consuming, closes every task cleanly (checkpointing its stores), disconnects. */
  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    const failed = this.currentState === 'failed';
    this.currentState = 'closing';
    if (this.timer) clearInterval(this.timer);
    if (this.commitTimer) clearInterval(this.commitTimer);
    const committer = this.committer;
    if (committer !== undefined && !failed) {
      // The last commit goes while this instance is still a member of the group: once the
      // consumer has left, the coordinator refuses offsets stamped with its generation. No batch
      // is processed from here on (eachBatch returns at once while closing).
      await committer.lock
        .run(async () => {
          await committer.commit();
          await committer.settle();
        })
        .catch((err) => this.logger.warn('the last commit before leaving the group failed', { err }));
    }
    await this.consumer?.disconnect().catch((err) => this.logger.warn('consumer disconnect failed', { err }));
    const mode = !failed ? 'clean' : leavesStoresSound(this.failure) ? 'lost' : 'dirty';
    for (const task of [...this.tasks.values()]) await this.dropTask(task, mode);
    await this.committer?.close();
    await this.globals?.stop().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
    this.currentState = failed ? 'failed' : 'closed';
  }
}

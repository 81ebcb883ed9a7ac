import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@cdc/core';
import type { AggregateDeclaration } from '@cdc/pipeline';
import type { KeyValueStore, SessionStore, WindowStore } from '@cdc/streams';
import { Partitioners } from 'kafkajs';
import type { GroupState } from './aggregation-state.ts';
import type { Membership } from './membership.ts';
import { outputRecord, toJsonValue } from './output.ts';
import { canonicalKey } from './plain-value.ts';
import type { QueryRegistry } from './query-registry.ts';

export interface QueryTarget {
  decl: AggregateDeclaration;
  /** The subtopology that holds the aggregate's store (task ids are `<subtopology>_<partition>`). */
  subtopology: number;
  /** Partitions of the aggregate's repartition topic. */
  partitions: number;
}

const partitioner = Partitioners.DefaultPartitioner();

/** The partition that holds a group key: Kafka's murmur2 over the repartition topic's key bytes. */
export function partitionOf(groupKey: string, partitions: number): number {
  return partitioner({
    topic: '',
    partitionMetadata: Array.from({ length: partitions }, (_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
      partitionErrorCode: 0,
    })),
    message: { key: Buffer.from(groupKey, 'utf8'), value: null },
  });
}

/**
 * Interactive queries over HTTP (127.0.0.1 by default):
 *
 *   GET /state/<aggregate>?key=<v1>&key=<v2>[&from=<ms>&to=<ms>]
 *
 * `key` gives the group values in `groupBy` order (none for an ungrouped aggregate); windowed
 * aggregates answer every window of the group whose start lies in `[from, to]` (default: all),
 * sessions those overlapping it. The answer comes from this instance's store when it holds the
 * key's partition, else the request is forwarded once to the instance that does (learnt through
 * `Membership`); 503 while nobody holds it (a rebalance). Values are what the output topic would
 * carry, decimals as text; open windows included (read-uncommitted).
 */
export class InteractiveQueries {
  private server: Server | undefined;
  private readonly targets: Map<string, QueryTarget>;
  private readonly queries: QueryRegistry;
  private readonly membership: Membership | undefined;
  private readonly logger: Logger;
  private readonly now: () => number;

  constructor(options: {
    targets: QueryTarget[];
    queries: QueryRegistry;
    membership?: Membership;
    logger: Logger;
    now: () => number;
  }) {
    this.targets = new Map(options.targets.map((t) => [t.decl.name, t]));
    this.queries = options.queries;
    this.membership = options.membership;
    this.logger = options.logger;
    this.now = options.now;
  }

  async listen(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger.warn('interactive query failed', { err: String(err) });
        send(res, 500, { error: String((err as Error)?.message ?? err) });
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    return `http://${host}:${addr.port}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const m = /^\/state\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) {
      send(res, 404, { error: 'GET /state/<aggregate>?key=…' });
      return;
    }
    const name = decodeURIComponent(m[1] as string);
    const target = this.targets.get(name);
    if (!target) {
      send(res, 404, {
        error: `no aggregate named ${name}; there are ${[...this.targets.keys()].join(', ')}`,
      });
      return;
    }
    const values = url.searchParams.getAll('key');
    if (values.length !== target.decl.groupBy.length) {
      send(res, 400, {
        error: `${name} is grouped by ${target.decl.groupBy.join(', ') || 'nothing'}: give ${target.decl.groupBy.length} key parameter(s) in that order`,
      });
      return;
    }
    const groupKey = canonicalKey(values);
    const partition = partitionOf(groupKey, target.partitions);
    const store = this.queries.store(name, partition);
    if (!store) {
      const task = `${target.subtopology}_${partition}`;
      const owner = this.membership?.ownerOf(task);
      if (!owner || owner.instanceId === this.membership?.instanceId || url.searchParams.has('forwarded')) {
        send(res, 503, {
          error: `partition ${partition} of ${name} is not open anywhere right now; retry`,
          partition,
        });
        return;
      }
      url.searchParams.set('forwarded', '1');
      const answer = await fetch(`${owner.url}${url.pathname}${url.search}`, {
        signal: AbortSignal.timeout(5_000),
      });
      send(res, answer.status, await answer.json());
      return;
    }
    const from = Number(url.searchParams.get('from') ?? Number.MIN_SAFE_INTEGER);
    const to = Number(url.searchParams.get('to') ?? Number.MAX_SAFE_INTEGER);
    const decl = target.decl;
    const record = (state: GroupState, window?: { start: number; end: number }) => {
      const r = outputRecord(decl, groupKey, window, state, this.now());
      if (!r) return null;
      const { emittedAtMs: _, ...rest } = toJsonValue(r);
      return rest;
    };
    const base = { aggregate: name, key: values, partition, instance: this.membership?.instanceId ?? null };
    if (!decl.window) {
      const state = await (store as KeyValueStore<string, GroupState>).get(groupKey);
      send(res, 200, { ...base, value: state ? record(state) : null });
      return;
    }
    const found =
      decl.window.type === 'session'
        ? await (store as SessionStore<string, GroupState>).findSessions(groupKey, from, to)
        : await (store as WindowStore<string, GroupState>).fetchRange(groupKey, from, to);
    send(res, 200, {
      ...base,
      windows: found.map((w) => record(w.value, w.window)).filter((r) => r !== null),
    });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

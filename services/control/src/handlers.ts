/**
 * What each route does. Reads come from the pipeline file, Kafka and the services' metrics;
 * actions go to the captures as signals (pause, resume, resync), or reuse the CLI's own code
 * (quarantine replay/discard, verify), so the API and `cdc` act the same way.
 */

import { sendSignal, TablePauses } from '@cdc/capture';
import { LOSSLESS_JSON, openReader } from '@cdc/clickhouse';
import type { Logger } from '@cdc/core';
import type { Admin, Kafka, RecordSender } from '@cdc/kafka';
import type { StateDir } from '@cdc/operate';
import {
  ContinuousVerifier,
  discardQuarantine,
  gatherStatus,
  histogramIncrease,
  listQuarantine,
  quantileFromBuckets,
  replayQuarantine,
  samplesOf,
  type VerifyReport,
  verify,
} from '@cdc/operate';
import type { Pipeline } from '@cdc/pipeline';
import type { Telemetry } from '@cdc/telemetry';
import type { LiveMetrics } from './live-metrics.ts';
import { pipelineGraph, type TableView, tableTopics, tableViews } from './read-model.ts';
import type { Principal } from './tokens.ts';

/** A failure the caller can fix: answered with `status` and the message. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface HandlerDeps {
  pipeline: Pipeline;
  config: string;
  state: StateDir;
  kafka: Kafka;
  admin: Admin;
  producer: RecordSender;
  metrics: LiveMetrics;
  /** Where the continuous verifier's `cdc_verify_*` go: the control service's own /metrics. */
  verifyMetrics: Telemetry['metrics'];
  logger: Logger;
}

export interface Request {
  principal: Principal;
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
}

/** The answer and, for the audit log, what it was about and a one-line result. */
export interface Result {
  body: unknown;
  target?: string;
  detail?: string;
}

export class Handlers {
  private readonly d: HandlerDeps;
  private lastVerify: VerifyReport | undefined;
  private verifying: Promise<VerifyReport> | undefined;
  private continuous:
    | { verifier: ContinuousVerifier; stop: AbortController; done: Promise<void> }
    | undefined;
  private readonly pauses: Map<string, TablePauses>;
  private pausedCache: { at: number; topics: Set<string> } | undefined;

  constructor(deps: HandlerDeps) {
    this.d = deps;
    this.pauses = new Map(
      [...deps.pipeline.sources.postgres, ...deps.pipeline.sources.mongo].map((s) => [
        s.name,
        new TablePauses({
          kafka: deps.kafka,
          admin: deps.admin,
          prefix: s.topicPrefix ?? s.name,
          logger: deps.logger,
        }),
      ]),
    );
  }

  async run(method: string, path: string, req: Request): Promise<Result> {
    switch (path) {
      case '/api/whoami':
        return { body: req.principal };
      case '/api/status':
        return { body: await gatherStatus(this.d.state, this.d.config) };
      case '/api/tables':
        return { body: await this.tables() };
      case '/api/pipeline':
        return { body: pipelineGraph(this.d.pipeline, await this.tables()) };
      case '/api/metrics/series':
        return { body: this.d.metrics.series };
      case '/api/tables/{source}/{table}/pause':
      case '/api/tables/{source}/{table}/resume':
      case '/api/tables/{source}/{table}/resync':
        return this.signal(path.split('/').at(-1) as 'pause' | 'resume' | 'resync', req);
      case '/api/dead-letters':
        return { body: await listQuarantine(this.d.pipeline, req.query.get('table') ?? undefined) };
      case '/api/dead-letters/{table}/replay': {
        const table = req.params.table as string;
        const n = await replayQuarantine(this.d.pipeline, table);
        return {
          body: { table, replayed: n },
          target: table,
          detail: `asked to re-read ${n} quarantined row(s)`,
        };
      }
      case '/api/dead-letters/{table}/discard': {
        const table = req.params.table as string;
        const n = await discardQuarantine(this.d.pipeline, table);
        return { body: { table, discarded: n }, target: table, detail: `discarded ${n} quarantined row(s)` };
      }
      case '/api/verify':
        return method === 'POST' ? this.verify(req) : this.lastVerifyReport();
      case '/api/verify/continuous':
        return method === 'POST'
          ? this.startContinuous(req)
          : { body: { continuous: this.continuous?.verifier.state ?? null } };
      case '/api/verify/continuous/stop':
        return this.stopContinuous();
      case '/api/sql':
        return { body: await this.sql(req.body.sql) };
      default:
        throw new ApiError(404, `no route ${path}`);
    }
  }

  /** `{ report: null }` before the first run. */
  private lastVerifyReport(): Result {
    return { body: { report: this.lastVerify ?? null } };
  }

  private async verify(req: Request): Promise<Result> {
    const sources = sourcesOf(req);
    const timeoutS = positive(req, 'timeoutS', 60);
    const repair = req.body.repair ?? false;
    if (typeof repair !== 'boolean') throw new ApiError(400, '"repair" is true or false');
    if (this.verifying)
      throw new ApiError(
        409,
        'a verify run is under way: wait for it (GET /api/verify shows the last report)',
      );
    this.verifying = verify({
      config: this.d.config,
      timeoutMs: timeoutS * 1000,
      openDirectory: false,
      repair,
      ...(sources ? { sources } : {}),
      log: (l) => this.d.logger.info('verify', { line: l }),
    });
    try {
      this.lastVerify = await this.verifying;
    } finally {
      this.verifying = undefined;
    }
    const repaired = this.lastVerify.repairs.map((r) => `${r.table} (${r.ranges} ${r.kind ?? 'ranges'})`);
    return {
      body: { report: this.lastVerify },
      target: sources?.join(',') ?? '',
      detail: `${this.lastVerify.ok ? 'verify passed' : 'verify found differences'}${repaired.length > 0 ? `; repaired ${repaired.join(', ')}` : ''}`,
    };
  }

  /** Starts the continuous verifier in this process (one at a time). */
  private startContinuous(req: Request): Result {
    if (this.continuous?.verifier.state.running)
      throw new ApiError(
        409,
        'a continuous verifier is running: stop it first (POST /api/verify/continuous/stop) to start one with other settings',
      );
    const sources = sourcesOf(req);
    const rowsPerSecond = positive(req, 'rowsPerSecond', 20_000);
    const intervalS = req.body.intervalS ?? 60;
    if (typeof intervalS !== 'number' || !(intervalS >= 0))
      throw new ApiError(400, '"intervalS" is a number of seconds, 0 or more');
    const timeoutS = positive(req, 'timeoutS', 60);
    const stop = new AbortController();
    const verifier = new ContinuousVerifier({
      config: this.d.config,
      timeoutMs: timeoutS * 1000,
      rowsPerSecond,
      intervalMs: intervalS * 1000,
      signal: stop.signal,
      metrics: this.d.verifyMetrics,
      ...(sources ? { sources } : {}),
      log: (l) => this.d.logger.info('verify', { line: l }),
    });
    const done = verifier.run().catch((err: unknown) => {
      this.d.logger.error('the continuous verifier stopped on an error; start it again through the API', {
        err,
      });
    });
    this.continuous = { verifier, stop, done };
    return {
      body: { continuous: verifier.state },
      target: sources?.join(',') ?? '',
      detail: `continuous verify started: at most ${rowsPerSecond} rows/s, ${intervalS} s between runs`,
    };
  }

  private stopContinuous(): Result {
    const c = this.continuous;
    if (!c?.verifier.state.running)
      throw new ApiError(409, 'no continuous verifier is running (POST /api/verify/continuous starts one)');
    c.stop.abort();
    return {
      body: { continuous: c.verifier.state, stopping: true },
      detail: `continuous verify stopping after ${c.verifier.state.runs} run(s)`,
    };
  }

  /** Stops the continuous verifier, if any, and waits for its run under way (shutdown). */
  async close(): Promise<void> {
    this.continuous?.stop.abort();
    await this.continuous?.done;
  }

  private async signal(type: 'pause' | 'resume' | 'resync', req: Request): Promise<Result> {
    const { pipeline, producer } = this.d;
    const source = req.params.source as string;
    const table = req.params.table as string;
    const pg = pipeline.sources.postgres.some((s) => s.name === source);
    const mongo = pipeline.sources.mongo.some((s) => s.name === source);
    if (!pg && !mongo)
      throw new ApiError(404, `no source named ${source} (sources: ${this.sourceNames().join(', ')})`);
    // PostgreSQL tables are schema.table (public by default); MongoDB collections db.collection.
    const qualified = pg && !table.includes('.') ? `public.${table}` : table;
    const known = tableTopics(pipeline, await this.d.admin.listTopics()).some(
      (t) => t.source === source && t.table === qualified,
    );
    if (!known)
      throw new ApiError(
        404,
        `source ${source} has no captured table ${qualified} (GET /api/tables lists them)`,
      );
    const range: { from?: string[]; to?: string[]; keys?: string[][] } = {};
    // A key: the text values of the key columns (MongoDB: the _id as canonical Extended JSON).
    const example = mongo ? '[\'{"$numberInt":"42"}\']' : '["42"]';
    if (type === 'resync') {
      for (const k of ['from', 'to'] as const) {
        const v = req.body[k];
        if (v === undefined) continue;
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
          throw new ApiError(
            400,
            `"${k}" is a key as a list of text values of the key columns, e.g. ${example}`,
          );
        range[k] = v as string[];
      }
      const keys = req.body.keys;
      if (keys !== undefined) {
        if (!mongo)
          throw new ApiError(
            400,
            '"keys" is for MongoDB collections; a PostgreSQL table is resynced by from/to',
          );
        if (
          !Array.isArray(keys) ||
          keys.some((k) => !Array.isArray(k) || k.length !== 1 || typeof k[0] !== 'string')
        )
          throw new ApiError(
            400,
            `"keys" is a list of keys, each a list of one _id as Extended JSON, e.g. [${example}]`,
          );
        if (range.from || range.to) throw new ApiError(400, 'give either "keys" or "from"/"to", not both');
        range.keys = keys as string[][];
      }
    }
    const s = await sendSignal(producer, pipeline.control.signalTopic, {
      type,
      source,
      table: qualified,
      actor: req.principal.name,
      ...range,
    });
    this.pausedCache = undefined;
    return {
      body: { accepted: true, signal: s },
      target: `${source}/${qualified}`,
      detail: `signal ${s.id} written to ${pipeline.control.signalTopic}`,
    };
  }

  private sourceNames(): string[] {
    return [...this.d.pipeline.sources.postgres, ...this.d.pipeline.sources.mongo].map((s) => s.name);
  }

  /** The base topics the captures hold (re-read at most every 2 s). */
  private async paused(): Promise<Set<string>> {
    if (this.pausedCache && Date.now() - this.pausedCache.at < 2_000) return this.pausedCache.topics;
    const topics = new Set<string>();
    for (const p of this.pauses.values()) {
      await p.load();
      for (const t of p.pausedTopics) topics.add(t);
    }
    this.pausedCache = { at: Date.now(), topics };
    return topics;
  }

  private async tables(): Promise<TableView[]> {
    const { metrics } = this.d;
    const cur = metrics.latest ? samplesOf(metrics.latest, 'sink-clickhouse') : undefined;
    const base = metrics.oldest ? samplesOf(metrics.oldest, 'sink-clickhouse') : undefined;
    const latencyOf = (topic: string) => {
      if (!cur || !base) return null;
      const buckets = histogramIncrease(
        base,
        cur,
        'cdc_end_to_end_latency_seconds',
        (l) => l.topic === topic,
      );
      const p50 = quantileFromBuckets(buckets, 0.5);
      const p99 = quantileFromBuckets(buckets, 0.99);
      return p50 === undefined || p99 === undefined ? null : { p50, p99 };
    };
    return tableViews(
      this.d.pipeline,
      await this.d.admin.listTopics(),
      await this.paused(),
      metrics.latest,
      metrics.previous,
      latencyOf,
    );
  }

  private async sql(sql: unknown): Promise<{ rows: Record<string, unknown>[]; truncated: boolean }> {
    if (typeof sql !== 'string' || sql.trim() === '')
      throw new ApiError(400, '"sql" is one read-only statement');
    const ch = this.d.pipeline.clickhouse;
    if (!ch) throw new ApiError(404, 'the pipeline file has no clickhouse section');
    const reader = await openReader(ch, { openDirectory: false });
    try {
      const rows = await reader.query(sql, {
        ...LOSSLESS_JSON,
        readonly: '1',
        max_result_rows: '1000',
        result_overflow_mode: 'break',
      });
      return { rows: rows.slice(0, 1000), truncated: rows.length > 1000 };
    } catch (err) {
      throw new ApiError(400, (err as Error).message);
    } finally {
      await reader.close();
    }
  }
}

/** The optional `sources` of a body: a list of source names. */
function sourcesOf(req: Request): string[] | undefined {
  const sources = req.body.sources;
  if (sources !== undefined && (!Array.isArray(sources) || sources.some((s) => typeof s !== 'string')))
    throw new ApiError(400, '"sources" is a list of source names, e.g. ["shop"]');
  return sources as string[] | undefined;
}

/** A positive number of a body, or its default. */
function positive(req: Request, name: string, fallback: number): number {
  const v = req.body[name] ?? fallback;
  if (typeof v !== 'number' || !(v > 0)) throw new ApiError(400, `"${name}" is a positive number`);
  return v;
}

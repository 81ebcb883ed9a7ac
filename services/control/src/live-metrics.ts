/**
 * The figures over time: every `intervalMs` the services' `/metrics` are scraped (the ports come
 * from the state directory `cdc up` keeps, as for `cdc status`) and turned into rates by the
 * CLI's `pipelineRates`; the last `keep` points feed the console's charts.
 */
import type { PipelineRates, Scrape, ServiceName, StateDir } from '@cdc/operate';
import { pipelineRates, scrapeServices } from '@cdc/operate';
import type { RatePoint } from './api-types.ts';

export type { RatePoint } from './api-types.ts';

export interface LiveMetricsOptions {
  state: StateDir;
  services: readonly ServiceName[];
  intervalMs?: number;
  /** Points kept (default 300: 10 minutes at 2 s). */
  keep?: number;
  /** Topics whose end-to-end latency counts (the aggregates' carry their window's time). */
  latencyTopics?: (labels: Record<string, string>) => boolean;
}

export class LiveMetrics {
  private readonly o: LiveMetricsOptions;
  private readonly scrapes: Scrape[] = [];
  private readonly points: RatePoint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(options: LiveMetricsOptions) {
    this.o = options;
  }

  start(): void {
    const tick = () => {
      this.running = this.poll().finally(() => {
        this.running = undefined;
      });
    };
    tick();
    this.timer = setInterval(() => this.running ?? tick(), this.o.intervalMs ?? 2_000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** The last scrape (undefined before the first). */
  get latest(): Scrape | undefined {
    return this.scrapes.at(-1);
  }

  /** The scrape before the last. */
  get previous(): Scrape | undefined {
    return this.scrapes.at(-2);
  }

  /** The oldest scrape kept (~10 s back): the base of the latency quantiles. */
  get oldest(): Scrape | undefined {
    return this.scrapes[0];
  }

  /** Rates over the last interval, latency over the scrapes kept for it (~10 s). */
  get rates(): PipelineRates | undefined {
    const cur = this.scrapes.at(-1);
    const prev = this.scrapes.at(-2);
    if (!cur || !prev) return undefined;
    return pipelineRates(prev, cur, this.scrapes[0] ?? prev, this.o.latencyTopics);
  }

  get series(): readonly RatePoint[] {
    return this.points;
  }

  private async poll(): Promise<void> {
    const cur = await scrapeServices(this.o.state.read(), this.o.services);
    this.scrapes.push(cur);
    if (this.scrapes.length > 6) this.scrapes.shift();
    const r = this.rates;
    if (!r) return;
    const captured = Object.values(r.captured).filter((x): x is number => x !== undefined);
    this.points.push({
      at: cur.at,
      captured: captured.length > 0 ? captured.reduce((a, b) => a + b, 0) : null,
      written: r.written ?? null,
      sinkLag: r.sinkLag ?? null,
      p50: r.latency?.p50 ?? null,
      p99: r.latency?.p99 ?? null,
    });
    if (this.points.length > (this.o.keep ?? 300)) this.points.shift();
  }
}

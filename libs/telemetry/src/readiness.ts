/**
 * What `/readyz` answers: a service is ready when every registered check says so. Checks are
 * functions (polled on each request, e.g. "connected to Kafka") or flags the service sets as
 * things happen (e.g. "snapshot done", "state stores restored").
 */
export interface CheckResult {
  ready: boolean;
  /** Why not ready (or a short status); shown in the `/readyz` body. */
  detail?: string;
}

export type ReadinessCheck = () => CheckResult | boolean | Promise<CheckResult | boolean>;

export interface ReadinessFlag {
  set(ready: boolean, detail?: string): void;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, CheckResult>;
  /**
   * What an operator must act on although the service works (a table stopped while the others
   * flow, changes dead-lettered), by subject; absent when there is nothing.
   */
  attention?: Record<string, string>;
}

export interface ReadinessOptions {
  /** A check that has not answered after this long counts as not ready (default 2000 ms). */
  checkTimeoutMs?: number;
}

export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>();
  readonly #attention = new Map<string, string>();
  readonly #timeoutMs: number;
  #stopping = false;

  constructor(options: ReadinessOptions = {}) {
    this.#timeoutMs = options.checkTimeoutMs ?? 2_000;
  }

  /** Adds (or replaces) a polled check. */
  register(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  /** Adds a check whose state the service sets; starts as `initial` (default: not ready). */
  flag(name: string, initial = false, detail = 'starting'): ReadinessFlag {
    let state: CheckResult = initial ? { ready: true } : { ready: false, detail };
    this.#checks.set(name, () => state);
    return {
      set: (ready, d) => {
        state = d === undefined ? { ready } : { ready, detail: d };
      },
    };
  }

  /**
   * Sets (or, with `undefined`, clears) what needs an operator about `subject` (e.g.
   * `table shop.orders`). It does not make the service unready: the rest of its work goes on.
   */
  attention(subject: string, message: string | undefined): void {
    if (message === undefined) this.#attention.delete(subject);
    else this.#attention.set(subject, message);
  }

  /** From now on the service reports not ready (called first on SIGTERM). */
  stopping(): void {
    this.#stopping = true;
  }

  async evaluate(): Promise<ReadinessReport> {
    const checks: Record<string, CheckResult> = {};
    if (this.#stopping) checks.shutdown = { ready: false, detail: 'shutting down' };
    await Promise.all(
      [...this.#checks].map(async ([name, check]) => {
        checks[name] = await this.#run(check);
      }),
    );
    const report: ReadinessReport = { ready: Object.values(checks).every((c) => c.ready), checks };
    if (this.#attention.size > 0) report.attention = Object.fromEntries(this.#attention);
    return report;
  }

  async #run(check: ReadinessCheck): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(
        () => resolve({ ready: false, detail: `no answer within ${this.#timeoutMs} ms` }),
        this.#timeoutMs,
      );
    });
    try {
      const result = await Promise.race([Promise.resolve().then(check), timeout]);
      return typeof result === 'boolean' ? { ready: result } : result;
    } catch (err) {
      return { ready: false, detail: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}

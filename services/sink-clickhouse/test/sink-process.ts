/**
 * The sink as a child process (`src/main.ts` under this Node, as `node dist/main.js` would run
 * it), with a pipeline file of its own: for scenarios that kill it or own its data directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { endpoints } from './helpers.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');

export interface SinkProcessConfig {
  dir: string;
  database: string;
  topics: string[];
  groupId: string;
  deadLetterTopic: string;
  maxRows?: number;
  /** `clickhouse.sink.tables` (default: none). */
  tables?: Record<string, { table: string }>;
}

/** Writes the pipeline file for a sink on the local stack; returns its path. */
export function writePipeline(config: SinkProcessConfig, file: string): string {
  const pipeline = {
    kafka: { brokers: endpoints.kafka.brokers, clientId: 'sink-test-child' },
    registry: { url: endpoints.registry.url },
    clickhouse: {
      embedded: { path: config.dir, http: { enabled: true, port: 0 } },
      database: config.database,
      sink: {
        topics: config.topics,
        groupId: config.groupId,
        deadLetterTopic: config.deadLetterTopic,
        sessionTimeoutMs: 6_000,
        batch: { maxRows: config.maxRows ?? 500, maxWaitMs: 200 },
        retry: { initialDelayMs: 100, maxDelayMs: 2_000 },
        ...(config.tables ? { tables: config.tables } : {}),
      },
    },
  };
  writeFileSync(file, JSON.stringify(pipeline, null, 2));
  return file;
}

export class SinkProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = '';

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [MAIN, ...args], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
    });
    // The logger writes JSON lines to stderr; anything else (a crash's stack) is kept as text.
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let buf = '';
      stream.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            this.lines.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            this.stderr = `${this.stderr}${line}\n`.slice(-4000);
          }
          nl = buf.indexOf('\n');
        }
      });
    }
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  /** The last log line with this message, once it is written. */
  async line(msg: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.lines.findLast((l) => l.msg === msg);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`the sink exited before logging "${msg}": ${this.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the sink did not log "${msg}" within ${timeoutMs} ms: ${this.output()}`);
  }

  output(): string {
    return `${this.lines
      .slice(-10)
      .map((l) => JSON.stringify(l))
      .join('\n')}\n${this.stderr}`;
  }

  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill(signal);
    return this.exited;
  }
}

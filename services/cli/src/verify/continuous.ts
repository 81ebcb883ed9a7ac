/**
 * `cdc verify --continuous`: verifies every table again and again in the background, reading the
 * source at most `rowsPerSecond` rows per second (first-level range sums; the source is not
 * hurt), and publishes each table's outcome as metrics on a 127.0.0.1 `/metrics` listener
 * (`cdc_verify_*`, see `@cdc/telemetry`'s catalogue). A run is one `verify` (same waiting for the
 * pipeline, same snapshot, same comparison); between runs it sleeps `intervalMs`. It stops on
 * the signal, after the table under way. It reads an embedded ClickHouse only through the sink's
 * endpoint, never by opening its directory (that would lock the sink out when it restarts): while
 * the sink is down a run reports the problem and the next one tries again.
 *
 * A command of its own rather than a service under `cdc up`: it reads both databases, so the
 * operator starts it deliberately with a budget and a scrape port (and a supervisor can run it
 * like any long-running command).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createJsonLogger } from '@cdc/core';
import { loadPipeline } from '@cdc/pipeline';
import { createTelemetry } from '@cdc/telemetry';
import { formatVerifyReport, type VerifyOptions, type VerifyReport, verify } from './verify.ts';

export interface ContinuousOptions extends VerifyOptions {
  /** Source rows read per second at most. */
  rowsPerSecond: number;
  /** Pause between two runs. */
  intervalMs: number;
  /** `/metrics` port (0: an ephemeral one, logged); host: the pipeline file's telemetry host (127.0.0.1 by default). */
  metricsPort: number;
  signal: AbortSignal;
  /** Called after each run (tests). */
  onRun?: (report: VerifyReport) => void;
}

export async function verifyContinuously(o: ContinuousOptions): Promise<void> {
  const log = o.log ?? (() => undefined);
  const pipeline = loadPipeline(o.config, o.env);
  const logger = createJsonLogger({ level: 'warn' });
  const telemetry = createTelemetry({
    service: 'verify',
    config: { ...pipeline.telemetry, http: { ...pipeline.telemetry.http, port: o.metricsPort } },
    logger,
  });
  const server = await telemetry.start();
  log(`verify: continuous, at most ${o.rowsPerSecond} rows/s, metrics on ${server.url}/metrics`);
  const m = telemetry.metrics;
  try {
    while (!o.signal.aborted) {
      const report = await verify({
        ...o,
        openDirectory: false,
        // A mismatch is reported as it is; the next run compares again.
        once: true,
        ranges: { ...o.ranges, rowsPerSecond: o.rowsPerSecond },
      });
      const now = Date.now() / 1000;
      for (const t of report.tables) {
        const labels = { source: t.source, table: t.table };
        m.verifyLastRun.set(now, labels);
        m.verifyMatch.set(t.match ? 1 : 0, labels);
        m.verifyMismatchedRows.set(t.differing ?? (t.match ? 0 : 1), labels);
        m.verifyRangesChecked.add(t.ranges ?? 1, labels);
        m.verifyRowsChecked.add(t.sourceRows ?? 0, labels);
      }
      o.onRun?.(report);
      const line = formatVerifyReport(report).trim().split('\n').at(-1) ?? '';
      log(line);
      await sleep(o.intervalMs, undefined, { signal: o.signal }).catch(() => undefined);
    }
  } finally {
    await telemetry.shutdown();
  }
}

/**
 * The demo's catch-up after the generator stopped: every second how far the PostgreSQL capture
 * has read the source, and the lag of the sink's group over the demo topics and of the
 * processor's group over its inputs (its streams and repartition topics; the joined tables are
 * read whole, ungrouped); every 10 s a progress line; the end by the rule of outcome.ts (caught
 * up, stalled, timed out) or when the user interrupts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from '@cdc/kafka';
import { groupLag, type PartitionLag } from '@cdc/operate';
import type pg from 'pg';
import {
  type CaptureProgress,
  type CatchUpResult,
  type CatchUpRule,
  captureBehind,
  catchUpStep,
  clip,
  startCatchUp,
  totalLag,
} from './outcome.ts';

/**
 * Reads how far the capture behind `slot` has read the source: its slot's confirmed position
 * against the source's WAL position now, when this is called. Kafka's lags say nothing of
 * changes the capture has not read yet: on a busy machine the groups can be drained while the
 * source's last transactions are still on their way (an idle capture confirms up to the
 * server's position on its keepalive, so an idle source is reached too). `client` is connected
 * and stays the caller's.
 */
export async function captureReader(
  client: pg.Client,
  slot: string,
): Promise<() => Promise<CaptureProgress>> {
  const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const target = rows[0]!.lsn;
  return async () => {
    const { rows } = await client.query<{ lsn: string | null; done: boolean | null }>(
      'SELECT confirmed_flush_lsn::text AS lsn, confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
      [slot, target],
    );
    return { slot, target, lsn: rows[0]?.lsn ?? null, done: rows[0]?.done === true };
  };
}

export interface CatchUpOptions {
  admin: Admin;
  sinkGroupId: string;
  /** The processor's group and the topics it consumes by name (none: no processor runs). */
  processor?: { applicationId: string; inputs: readonly string[] };
  /** The PostgreSQL capture's progress (`captureReader`; none: no PostgreSQL capture). */
  capture?: (() => Promise<CaptureProgress>) | undefined;
  rule: CatchUpRule;
  /** The user asked to stop waiting. */
  interrupted: () => boolean;
  /** The services' state, for the progress line. */
  services: () => string;
  say: (line: string) => void;
}

export interface Lags {
  sink: PartitionLag[];
  processor: PartitionLag[];
}

/**
 * The lag of the sink's group over the demo topics and of the processor's group over its inputs
 * (its CDC topics and repartition topics).
 */
export async function readPipelineLags(
  o: Pick<CatchUpOptions, 'admin' | 'sinkGroupId' | 'processor'>,
): Promise<Lags> {
  const all = await o.admin.listTopics();
  const p = o.processor;
  return {
    sink: await groupLag(
      o.admin,
      o.sinkGroupId,
      all.filter((x) => /^demo(docs)?\./.test(x)),
    ),
    processor: p
      ? await groupLag(
          o.admin,
          p.applicationId,
          all.filter(
            (x) =>
              (x.startsWith(`${p.applicationId}-`) && x.endsWith('-repartition')) || p.inputs.includes(x),
          ),
        )
      : [],
  };
}

export async function catchUp(o: CatchUpOptions): Promise<CatchUpResult> {
  let progress = startCatchUp(Date.now());
  let lags: Lags = { sink: [], processor: [] };
  let lagError = '';
  let capture: CaptureProgress | undefined;
  let lastLine = Date.now();
  for (;;) {
    // The capture first: what it confirms now is in Kafka before the lags below are read.
    if (o.capture)
      capture = await o.capture().catch((err: Error) => {
        lagError = clip(err.message);
        return capture && { ...capture, done: false };
      });
    const captured = o.capture === undefined || capture?.done === true;
    const read = await readPipelineLags(o).catch((err: Error) => {
      lagError = clip(err.message);
      return undefined;
    });
    if (read) lags = read;
    const now = Date.now();
    const step = catchUpStep(
      progress,
      now,
      read && totalLag([...read.sink, ...read.processor]),
      o.rule,
      captured,
    );
    progress = step.progress;
    const verdict = o.interrupted() ? 'interrupted' : step.verdict;
    if (verdict !== 'waiting')
      return {
        verdict,
        elapsedMs: now - progress.startMs,
        rule: o.rule,
        lags: [...lags.sink, ...lags.processor],
        capture,
      };
    if (now - lastLine >= 10_000) {
      lastLine = now;
      const flat = Math.round((now - progress.shrankAtMs) / 1000);
      const behind = [
        ...(capture && !capture.done ? [captureBehind(capture)] : []),
        read
          ? `${totalLag([...read.sink, ...read.processor])} records behind (sink ${totalLag(read.sink)}, processor ${totalLag(read.processor)})`
          : `lag not read (${lagError})`,
      ].join(', ');
      o.say(
        `catching up, ${Math.round((now - progress.startMs) / 1000)} s: ${behind}${flat >= 10 ? `, not shrinking for ${flat} s` : ''}; ${o.services()}`,
      );
    }
    await sleep(1_000);
  }
}

/**
 * The demo's catch-up after the generator stopped: every second the lag of the sink's group over
 * the demo topics and of the processor's group over its inputs (its streams and repartition
 * topics; the joined tables are read whole, ungrouped); every 10 s a progress line; the end by
 * the rule of outcome.ts (caught up, stalled, timed out) or when the user interrupts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from '@cdc/kafka';
import { groupLag, type PartitionLag } from '@cdc/operate';
import {
  type CatchUpResult,
  type CatchUpRule,
  catchUpStep,
  clip,
  startCatchUp,
  totalLag,
} from './outcome.ts';

export interface CatchUpOptions {
  admin: Admin;
  sinkGroupId: string;
  /** The processor's group and the topics it consumes by name (none: no processor runs). */
  processor?: { applicationId: string; inputs: readonly string[] };
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
  let lastLine = Date.now();
  for (;;) {
    const read = await readPipelineLags(o).catch((err: Error) => {
      lagError = clip(err.message);
      return undefined;
    });
    if (read) lags = read;
    const now = Date.now();
    const step = catchUpStep(progress, now, read && totalLag([...read.sink, ...read.processor]), o.rule);
    progress = step.progress;
    const verdict = o.interrupted() ? 'interrupted' : step.verdict;
    if (verdict !== 'waiting')
      return {
        verdict,
        elapsedMs: now - progress.startMs,
        rule: o.rule,
        lags: [...lags.sink, ...lags.processor],
      };
    if (now - lastLine >= 10_000) {
      lastLine = now;
      const flat = Math.round((now - progress.shrankAtMs) / 1000);
      const behind = read
        ? `${totalLag([...read.sink, ...read.processor])} records behind (sink ${totalLag(read.sink)}, processor ${totalLag(read.processor)})`
        : `lag not read (${lagError})`;
      o.say(
        `catching up, ${Math.round((now - progress.startMs) / 1000)} s: ${behind}${flat >= 10 ? `, not shrinking for ${flat} s` : ''}; ${o.services()}`,
      );
    }
    await sleep(1_000);
  }
}

/**
 * The demo's live view: per second, what the pipeline did, measured from Kafka (offsets of
 * the demo's topics: what the captures and the processor committed, what the sink group
 * committed) and from the generator. An ANSI redraw on a terminal, a line every 5 s otherwise.
 */
import type { Admin } from '@cdc/kafka';
import type { GeneratorStats } from './generator.ts';

export interface Sample {
  at: number;
  /** Offsets committed into the capture topics (records plus one commit marker per transaction). */
  captured: bigint;
  /** Offsets committed into the processor's output topics. */
  processed: bigint;
  /** Offsets the sink group committed (what ClickHouse has). */
  written: bigint;
  lag: bigint;
  /** Per source table: offsets in its topic. */
  perTopic: Map<string, bigint>;
}

export async function sample(
  admin: Admin,
  group: string,
  prefixes: string[],
  aggPrefix: string,
): Promise<Sample> {
  const topics = (await admin.listTopics()).filter(
    (t) => prefixes.some((p) => t.startsWith(p)) || t.startsWith(aggPrefix),
  );
  let captured = 0n;
  let processed = 0n;
  let written = 0n;
  let lag = 0n;
  const perTopic = new Map<string, bigint>();
  const committed = topics.length > 0 ? await admin.fetchOffsets({ groupId: group, topics }) : [];
  for (const t of topics) {
    const ends = await admin.fetchTopicOffsets(t);
    const end = ends.reduce((a, e) => a + BigInt(e.high), 0n);
    perTopic.set(t, end);
    if (t.startsWith(aggPrefix)) processed += end;
    else captured += end;
    const c = committed.find((x) => x.topic === t);
    for (const e of ends) {
      const o = BigInt(c?.partitions.find((p) => p.partition === e.partition)?.offset ?? '-1');
      const done = o < 0n ? 0n : o;
      written += done;
      lag += BigInt(e.high) > done ? BigInt(e.high) - done : 0n;
    }
  }
  return { at: Date.now(), captured, processed, written, lag, perTopic };
}

export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${Math.round(f * 100)
    .toString()
    .padStart(3)}%`;
}

export function render(
  prev: Sample,
  cur: Sample,
  gen: GeneratorStats,
  genPrev: GeneratorStats,
  snapshot: { table: string; topic: string; rows: number }[],
  notes: string[],
  elapsedS: number,
): string[] {
  const dt = Math.max(0.001, (cur.at - prev.at) / 1000);
  const rate = (a: bigint, b: bigint) => (Number(a - b) / dt).toFixed(0).padStart(7);
  const srcRate = (((gen.transactions - genPrev.transactions) / dt) as number).toFixed(0).padStart(7);
  const lines = [
    `cdc demo — ${elapsedS.toFixed(0)} s`,
    `  source transactions/s ${srcRate}   (inserts ${gen.inserts}, updates ${gen.updates}, deletes ${gen.deletes}, mongo ${gen.mongo}, errors ${gen.errors})`,
    `  captured offsets/s    ${rate(cur.captured, prev.captured)}   total ${cur.captured}`,
    `  processed offsets/s   ${rate(cur.processed, prev.processed)}   total ${cur.processed}`,
    `  written offsets/s     ${rate(cur.written, prev.written)}   total ${cur.written}   sink lag ${cur.lag}`,
    '  snapshot (rows in each table topic / rows at the source when the demo started):',
    ...snapshot.map(
      (s) =>
        `    ${s.table.padEnd(12)} ${bar(Number(cur.perTopic.get(s.topic) ?? 0n) / Math.max(1, s.rows))}`,
    ),
    ...notes.map((n) => `  note: ${n}`),
  ];
  return lines;
}

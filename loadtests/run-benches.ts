/**
 * The benchmarks `run.ts` runs: how to call each (full and quick sizes), what it needs, and how
 * its `--json` result becomes figures (value, reference measured in the same run, ratio, CPU
 * seconds per 100k units of work on each side).
 */

export type Needs = 'postgres' | 'kafka' | 'registry' | 'mongo' | 'java';

export interface Figure {
  bench: string;
  figure: string;
  value: number;
  unit: string;
  reference: string;
  referenceValue: number | null;
  /** value / reference (for latency: value / target). */
  ratio: number | null;
  cpuSecondsPer100k: number | null;
  referenceCpuSecondsPer100k: number | null;
  [extra: string]: unknown;
}

export interface Bench {
  name: string;
  what: string;
  script: string;
  args: { full: string[]; quick: string[] };
  timeoutS: { full: number; quick: number };
  needs: Needs[];
  /** Throws when the result lacks what the figures need (then the run counts as failed). */
  figures(result: unknown): Figure[];
  /** What in a complete result still makes the run a failure (wrong counts, an incomplete drain). */
  problems?(result: unknown): string[];
}

/** The number at `path` of a result; throws naming the path when it is missing. */
function num(result: unknown, path: string): number {
  let v: unknown = result;
  for (const k of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
  if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`no number at ${path}`);
  return v;
}
/** kafka-produce: librdkafka's native producer (awaited per 1,000) vs kafkajs, when it ran. */
function rdkafkaProduceFigures(result: unknown): Figure[] {
  type Client = { client: string; bestRecordsPerSecond: number; bestCpuSecondsPer100k: number };
  const clients = (result as { clients?: Client[] }).clients ?? [];
  const kj = clients.find((c) => c.client === 'kafkajs');
  const rd = clients.find((c) => c.client === 'rdkafka-native');
  if (!kj || !rd) return [];
  return [
    {
      bench: 'kafka-produce',
      figure: 'librdkafka native producer vs kafkajs',
      value: rd.bestRecordsPerSecond,
      unit: 'records/s',
      reference: '@cdc/kafka (kafkajs)',
      referenceValue: kj.bestRecordsPerSecond,
      ratio: r3(rd.bestRecordsPerSecond / kj.bestRecordsPerSecond),
      cpuSecondsPer100k: rd.bestCpuSecondsPer100k,
      referenceCpuSecondsPer100k: kj.bestCpuSecondsPer100k,
    },
  ];
}
function opt(result: unknown, path: string): number | null {
  try {
    return num(result, path);
  } catch {
    return null;
  }
}
const r3 = (n: number) => Number(n.toFixed(3));
const per100k = (cpuSeconds: number, units: number) => Number(((cpuSeconds * 100_000) / units).toFixed(2));

export const benches: Bench[] = [
  {
    name: 'avro-serde',
    what: 'Avro serde (encode + decode of a change event) vs JSON.stringify/parse, one thread',
    script: 'avro-serde/bench.ts',
    args: { full: [], quick: ['--seconds', '1', '--rounds', '3'] },
    timeoutS: { full: 300, quick: 120 },
    needs: ['registry'],
    figures: (r) => [
      {
        bench: 'avro-serde',
        figure: 'Avro vs JSON',
        value: num(r, 'avroRecordsPerSecond'),
        unit: 'records/s',
        reference: 'JSON',
        referenceValue: num(r, 'jsonRecordsPerSecond'),
        ratio: num(r, 'avroToJsonRatio'),
        cpuSecondsPer100k: num(r, 'avroCpuSecondsPer100k'),
        referenceCpuSecondsPer100k: num(r, 'jsonCpuSecondsPer100k'),
      },
    ],
  },
  {
    name: 'capture-postgres',
    what: 'PostgreSQL capture vs pg_recvlogical (streaming) and vs COPY (snapshot)',
    script: 'capture-postgres/bench.ts',
    args: { full: [], quick: ['--changes', '20000', '--rows', '50000'] },
    timeoutS: { full: 1200, quick: 180 },
    needs: ['postgres', 'kafka', 'registry'],
    figures: (r) => {
      const changes = num(r, 'streaming.changes');
      const rows = num(r, 'snapshot.rows');
      return [
        {
          bench: 'capture-postgres',
          figure: 'streaming vs pg_recvlogical',
          value: num(r, 'streaming.capture.changesPerSecond'),
          unit: 'changes/s',
          reference: 'pg_recvlogical',
          referenceValue: num(r, 'streaming.recvlogical.changesPerSecond'),
          ratio: num(r, 'streaming.ratio'),
          cpuSecondsPer100k: per100k(num(r, 'streaming.capture.cpuSeconds'), changes),
          referenceCpuSecondsPer100k: per100k(num(r, 'streaming.recvlogical.cpuSeconds'), changes),
        },
        {
          bench: 'capture-postgres',
          figure: 'snapshot vs COPY',
          value: num(r, 'snapshot.capture.rowsPerSecond'),
          unit: 'rows/s',
          reference: 'COPY TO STDOUT',
          referenceValue: num(r, 'snapshot.copy.rowsPerSecond'),
          ratio: num(r, 'snapshot.ratio'),
          cpuSecondsPer100k: per100k(num(r, 'snapshot.capture.cpuSeconds'), rows),
          referenceCpuSecondsPer100k: per100k(num(r, 'snapshot.copy.cpuSeconds'), rows),
        },
      ];
    },
  },
  {
    name: 'kafka-produce',
    what: "the transactional produce path: @cdc/kafka's producer (patched kafkajs) vs @platformatic/kafka",
    script: 'kafka-produce/bench.ts',
    args: { full: [], quick: ['--records', '50000'] },
    timeoutS: { full: 300, quick: 120 },
    needs: ['kafka'],
    figures: (r) => [
      {
        bench: 'kafka-produce',
        figure: 'transactional produce vs @platformatic/kafka',
        value: num(r, 'best.kafkajsRecordsPerSecond'),
        unit: 'records/s',
        reference: '@platformatic/kafka',
        referenceValue: num(r, 'best.platformaticRecordsPerSecond'),
        ratio: r3(num(r, 'best.kafkajsRecordsPerSecond') / num(r, 'best.platformaticRecordsPerSecond')),
        cpuSecondsPer100k: num(r, 'best.kafkajsCpuSecondsPer100k'),
        referenceCpuSecondsPer100k: num(r, 'best.platformaticCpuSecondsPer100k'),
      },
      // Only when librdkafka is installed (CDC_RDKAFKA_DIR, see loadtests/README.md).
      ...rdkafkaProduceFigures(r),
    ],
    problems: (r) =>
      (r as { samePartitions?: boolean }).samePartitions === true
        ? []
        : ['the clients put the same keys on different partitions'],
  },
  {
    name: 'capture-mongo',
    what: 'MongoDB capture vs a bare change stream loop',
    script: 'capture-mongo/bench.ts',
    args: { full: [], quick: ['--docs', '5000'] },
    timeoutS: { full: 600, quick: 150 },
    needs: ['mongo', 'kafka', 'registry'],
    figures: (r) => [
      {
        bench: 'capture-mongo',
        figure: 'capture vs bare watch() loop',
        value: num(r, 'captureEventsPerSecond'),
        unit: 'events/s',
        reference: 'bare watch()',
        referenceValue: num(r, 'bareEventsPerSecond'),
        ratio: num(r, 'ratio'),
        cpuSecondsPer100k: num(r, 'captureCpuSecondsPer100k'),
        referenceCpuSecondsPer100k: num(r, 'bareCpuSecondsPer100k'),
      },
    ],
  },
  {
    name: 'sink-clickhouse',
    what: 'ClickHouse sink vs the embedded engine inserting the same rows',
    script: 'sink-clickhouse/bench.ts',
    args: { full: [], quick: ['--rows', '100000', '--batches', '5000'] },
    timeoutS: { full: 1200, quick: 240 },
    needs: ['kafka', 'registry'],
    figures: (r) => {
      const results = (r as { results?: Record<string, number>[] }).results;
      if (!results || results.length === 0) throw new Error('no results');
      return results.map((x) => ({
        bench: 'sink-clickhouse',
        figure: `sink vs engine, batch ${num(x, 'batch')}`,
        value: num(x, 'sinkRowsPerSec'),
        unit: 'rows/s',
        reference: 'engine alone (the same JSONCompactEachRow lines)',
        referenceValue: num(x, 'engineRowsPerSec'),
        ratio: num(x, 'ratio'),
        cpuSecondsPer100k: num(x, 'sinkCpuSecondsPer100k'),
        referenceCpuSecondsPer100k: num(x, 'engineCpuSecondsPer100k'),
        // The engine on the same rows as JSONEachRow, which the sink sent before: beside, not the reference.
        engineJsonEachRowRowsPerSec: num(x, 'engineJsonEachRowRowsPerSec'),
      }));
    },
  },
  {
    name: 'streams-windowed-count',
    what: '@cdc/streams windowed count vs Kafka Streams (Java), exactly-once',
    script: 'streams-windowed-count/bench.ts',
    args: { full: [], quick: ['--records', '100000', '--rounds', '1'] },
    timeoutS: { full: 2400, quick: 240 },
    needs: ['kafka', 'java'],
    figures: (r) => {
      const sides = (r as { sides?: Record<string, unknown>[] }).sides ?? [];
      const ts = sides.find((s) => s.side === 'ts');
      const java = sides.find((s) => s.side === 'java');
      if (!ts || !java) throw new Error('a side is missing');
      return [
        {
          bench: 'streams-windowed-count',
          figure: '@cdc/streams vs Kafka Streams',
          value: Math.round(num(ts, 'recordsPerSecond')),
          unit: 'records/s',
          reference: 'Kafka Streams',
          referenceValue: Math.round(num(java, 'recordsPerSecond')),
          ratio: r3(num(r, 'ratio')),
          cpuSecondsPer100k: num(ts, 'cpuSecondsPer100k'),
          referenceCpuSecondsPer100k: num(java, 'cpuSecondsPer100k'),
        },
      ];
    },
    problems: (r) =>
      ((r as { sides?: { side: string; verified?: boolean }[] }).sides ?? [])
        .filter((s) => s.verified === false)
        .map((s) => `${s.side}: output counts differ from the input's`),
  },
  {
    name: 'processor',
    what: 'processor (demo enrich + windowed revenue, exactly-once) vs bare consumer, bare EOS loop, Kafka Streams',
    script: 'processor/bench.ts',
    args: { full: [], quick: ['--orders', '100000', '--live-seconds', '0'] },
    timeoutS: { full: 2400, quick: 300 },
    needs: ['kafka', 'registry', 'java'],
    figures: (r) => {
      const p = {
        value: num(r, 'processor.recordsPerSecond'),
        unit: 'changes/s',
        cpuSecondsPer100k: num(r, 'processor.cpuSecondsPer100k'),
      };
      const out: Figure[] = [
        {
          bench: 'processor',
          figure: 'processor vs bare consumer',
          ...p,
          reference: 'bare consumer',
          referenceValue: num(r, 'reference.recordsPerSecond'),
          ratio: num(r, 'ratio'),
          referenceCpuSecondsPer100k: num(r, 'reference.cpuSecondsPer100k'),
        },
        {
          bench: 'processor',
          figure: 'processor vs bare exactly-once loop',
          ...p,
          reference: 'bare EOS loop',
          referenceValue: num(r, 'exactlyOnceReference.recordsPerSecond'),
          ratio: num(r, 'ratioToExactlyOnce'),
          referenceCpuSecondsPer100k: num(r, 'exactlyOnceReference.cpuSecondsPer100k'),
        },
        {
          bench: 'processor',
          figure: 'processor vs Kafka Streams',
          ...p,
          reference: 'Kafka Streams',
          referenceValue: num(r, 'kafkaStreams.recordsPerSecond'),
          ratio: num(r, 'ratioToKafkaStreams'),
          referenceCpuSecondsPer100k: num(r, 'kafkaStreams.cpuSecondsPer100k'),
        },
      ];
      const p99 = opt(r, 'latency.p99Ms');
      if (p99 !== null)
        out.push({
          bench: 'processor',
          // CPU: the processor's, per change, while changes arrived at the live rate.
          figure: `window close → result p99 (${num(r, 'latency.windows')} windows; CPU at ${num(r, 'latency.liveRatePerSecond')} changes/s)`,
          value: p99,
          unit: 'ms',
          reference: 'p50',
          referenceValue: opt(r, 'latency.p50Ms'),
          ratio: null,
          cpuSecondsPer100k: opt(r, 'latency.liveCpuSecondsPer100k'),
          referenceCpuSecondsPer100k: null,
        });
      return out;
    },
  },
  {
    name: 'end-to-end',
    what: 'PostgreSQL → capture → Kafka → sink (+ processor) at a steady rate: commit → ClickHouse latency',
    script: 'end-to-end/bench.ts',
    args: { full: [], quick: ['--quick'] },
    timeoutS: { full: 900, quick: 330 },
    needs: ['postgres', 'kafka', 'registry'],
    figures: (r) => {
      const stages = (r as { stages?: Record<string, { cpuSecondsPer100k: number }> }).stages ?? {};
      const cpu = Object.values(stages).reduce((s, x) => s + x.cpuSecondsPer100k, 0);
      const perStage = Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, v.cpuSecondsPer100k]));
      const keptUp = (r as { keptUp?: boolean }).keptUp;
      return [
        {
          bench: 'end-to-end',
          figure: `commit → ClickHouse p99 (p50 ${num(r, 'latency.p50Ms')}, max ${num(r, 'latency.maxMs')} ms)`,
          value: num(r, 'latency.p99Ms'),
          unit: 'ms',
          reference: 'target',
          referenceValue: num(r, 'target.p99Ms'),
          ratio: num(r, 'p99ToTarget'),
          cpuSecondsPer100k: Number(cpu.toFixed(2)),
          referenceCpuSecondsPer100k: null,
          cpuSecondsPer100kByStage: perStage,
          keptUp,
          meetsTarget: (r as { meetsTarget?: boolean }).meetsTarget,
        },
        {
          bench: 'end-to-end',
          figure: `changes written for ${num(r, 'writer.seconds').toFixed(0)} s; kept up: ${keptUp ? 'yes' : 'no'}`,
          value: num(r, 'writer.achievedRate'),
          unit: 'changes/s',
          reference: 'asked',
          referenceValue: num(r, 'rate'),
          ratio: num(r, 'writer.ratioToTargetRate'),
          cpuSecondsPer100k: Number(cpu.toFixed(2)),
          referenceCpuSecondsPer100k: null,
        },
      ];
    },
  },
];

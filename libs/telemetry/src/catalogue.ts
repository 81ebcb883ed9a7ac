/**
 * Every metric the product exports, in one place: name, kind, unit, description and label set.
 * Services never invent a metric name; they use `telemetry.metrics.<key>`, typed by this table,
 * so a label that is not declared here does not compile. The dashboard test checks that every
 * series the Grafana dashboard queries is declared here.
 *
 * Naming follows Prometheus: `cdc_` prefix, base units in the name (`_seconds`, `_bytes`),
 * counters end in `_total`. Label values must stay few (topics, tables, codes — never keys or ids).
 */
export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface MetricSpec {
  readonly name: string;
  readonly kind: MetricKind;
  /** UCUM unit as OpenTelemetry expects it (`s`, `By`, `{record}`). */
  readonly unit: string;
  readonly description: string;
  readonly labels: readonly string[];
  /** Histogram bucket upper bounds. */
  readonly buckets?: readonly number[];
}

/** Where in the pipeline a record is counted. */
export const STAGES = ['capture', 'process', 'sink'] as const;
export type Stage = (typeof STAGES)[number];

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const BATCH_BUCKETS = [1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000];

export const METRICS = {
  recordsIn: {
    name: 'cdc_records_in_total',
    kind: 'counter',
    unit: '{record}',
    description: 'Records a stage read: source changes (capture), consumed records (process, sink).',
    labels: ['stage', 'topic'],
  },
  recordsOut: {
    name: 'cdc_records_out_total',
    kind: 'counter',
    unit: '{record}',
    description:
      'Records a stage wrote: produced to Kafka (capture, process) or inserted into ClickHouse (sink).',
    labels: ['stage', 'topic'],
  },
  errors: {
    name: 'cdc_errors_total',
    kind: 'counter',
    unit: '{error}',
    description: 'Errors by CdcError code, retried ones included.',
    labels: ['stage', 'code'],
  },
  deadLetters: {
    name: 'cdc_dead_letter_total',
    kind: 'counter',
    unit: '{record}',
    description:
      'Records sent to a dead-letter topic, by the topic they came from and the reason (an error code).',
    labels: ['topic', 'reason'],
  },
  tableStopped: {
    name: 'cdc_table_stopped',
    kind: 'gauge',
    unit: '{table}',
    description:
      'Whether a table is stopped (1) while the rest of the pipeline flows: its records are held until the cause (an error code) is fixed; `cdc status` shows the message and the fix.',
    labels: ['stage', 'table', 'code'],
  },
  transformRecords: {
    name: 'cdc_transform_records_total',
    kind: 'counter',
    unit: '{record}',
    description:
      'Rows of a table with transforms in the pipeline file, by outcome: passed (written), filtered (dropped by its filter; an update becomes a delete) or quarantined (sent to the quarantine topic by a quality rule or a stopped table).',
    labels: ['stage', 'table', 'outcome'],
  },
  qualityViolations: {
    name: 'cdc_quality_violations_total',
    kind: 'counter',
    unit: '{violation}',
    description:
      'Rows that broke a data-quality rule of the pipeline file, by table, rule and action (count, quarantine, stop).',
    labels: ['stage', 'table', 'rule', 'action'],
  },
  lateRecords: {
    name: 'cdc_late_records_total',
    kind: 'counter',
    unit: '{record}',
    description:
      'Input records of a windowed aggregation that arrived after the grace period of their window (written to its late-records topic when it has one, else only counted).',
    labels: ['application'],
  },
  stateRestored: {
    name: 'cdc_state_restored_records_total',
    kind: 'counter',
    unit: '{record}',
    description:
      'Changelog records a processor applied to its local state stores when tasks opened: after a crash or a failed transaction a task restores its stores whole; after a clean close, or a rebalance that found its work committed, only what was written since.',
    labels: ['application'],
  },
  consumerLag: {
    name: 'cdc_consumer_lag',
    kind: 'gauge',
    unit: '{record}',
    description: 'Records between the committed offset of a consumer group and the end of the partition.',
    labels: ['group', 'topic', 'partition'],
  },
  endToEndLatency: {
    name: 'cdc_end_to_end_latency_seconds',
    kind: 'histogram',
    unit: 's',
    description: 'From the source commit to the ClickHouse insert of the change.',
    labels: ['topic'],
    buckets: LATENCY_BUCKETS,
  },
  captureLag: {
    name: 'cdc_capture_lag_seconds',
    kind: 'gauge',
    unit: 's',
    description: 'Age of the last source change a capture wrote to Kafka (0 when idle and caught up).',
    labels: ['source'],
  },
  snapshotRowsDone: {
    name: 'cdc_snapshot_rows_done',
    kind: 'gauge',
    unit: '{row}',
    description: 'Rows of a table (or collection) the initial snapshot has written.',
    labels: ['source', 'table'],
  },
  snapshotRowsEstimated: {
    name: 'cdc_snapshot_rows_estimated',
    kind: 'gauge',
    unit: '{row}',
    description: "The source's row estimate for a table being snapshotted.",
    labels: ['source', 'table'],
  },
  snapshotRowsPerSecond: {
    name: 'cdc_snapshot_rows_per_second',
    kind: 'gauge',
    unit: '{row}/s',
    description:
      'Rows per second the snapshot of a table has committed since the capture started (or resumed) it.',
    labels: ['source', 'table'],
  },
  snapshotEta: {
    name: 'cdc_snapshot_eta_seconds',
    kind: 'gauge',
    unit: 's',
    description:
      "Seconds left in a table's snapshot at the current rate (rows estimated minus rows done; 0 when done).",
    labels: ['source', 'table'],
  },
  slotWalRetained: {
    name: 'cdc_slot_wal_retained_bytes',
    kind: 'gauge',
    unit: 'By',
    description: 'WAL that PostgreSQL keeps for a replication slot (current LSN minus the restart LSN).',
    labels: ['slot'],
  },
  batchSize: {
    name: 'cdc_batch_size',
    kind: 'histogram',
    unit: '{record}',
    description: 'Records per batch: per Kafka transaction (capture, process), per insert (sink).',
    labels: ['stage'],
    buckets: BATCH_BUCKETS,
  },
  transactions: {
    name: 'cdc_transactions_total',
    kind: 'counter',
    unit: '{transaction}',
    description: 'Kafka transactions ended, by outcome (commit or abort).',
    labels: ['stage', 'outcome'],
  },
  sinkInsertDuration: {
    name: 'cdc_sink_insert_duration_seconds',
    kind: 'histogram',
    unit: 's',
    description: 'Duration of one ClickHouse insert.',
    labels: ['table'],
    buckets: LATENCY_BUCKETS,
  },
  stateRestoreRecords: {
    name: 'cdc_state_restore_records',
    kind: 'gauge',
    unit: '{record}',
    description: 'Changelog records a state store has restored since it started restoring.',
    labels: ['store'],
  },
  stateRestoreRecordsEstimated: {
    name: 'cdc_state_restore_records_estimated',
    kind: 'gauge',
    unit: '{record}',
    description: 'Changelog records a state store must restore (end offsets minus its checkpoint).',
    labels: ['store'],
  },
  restarts: {
    name: 'cdc_service_restarts_total',
    kind: 'counter',
    unit: '{restart}',
    description:
      "In-process restarts of a unit of work (a capture source, the streams runtime, the sink consumer) after a retriable failure, by the failure's code.",
    labels: ['unit', 'code'],
  },
  retryAttempt: {
    name: 'cdc_service_retry_attempt',
    kind: 'gauge',
    unit: '{attempt}',
    description:
      'Failures in a row of a unit of work that is being retried (0 while it runs without failing); it grows while a server stays unavailable.',
    labels: ['unit'],
  },
  ready: {
    name: 'cdc_ready',
    kind: 'gauge',
    unit: '1',
    description: '1 when the service answers /readyz with 200, else 0 (evaluated at each scrape).',
    labels: [],
  },
  verifyLastRun: {
    name: 'cdc_verify_last_run_timestamp_seconds',
    kind: 'gauge',
    unit: 's',
    description:
      '`cdc verify --continuous`: when the last comparison of a table with ClickHouse ended (Unix time).',
    labels: ['source', 'table'],
  },
  verifyMatch: {
    name: 'cdc_verify_match',
    kind: 'gauge',
    unit: '1',
    description:
      '`cdc verify --continuous`: 1 when the last comparison found the table equal to its ClickHouse replica, else 0.',
    labels: ['source', 'table'],
  },
  verifyMismatchedRows: {
    name: 'cdc_verify_mismatched_rows',
    kind: 'gauge',
    unit: '{row}',
    description:
      '`cdc verify --continuous`: keys that differed (changed, missing or extra in ClickHouse) in the last comparison of a table.',
    labels: ['source', 'table'],
  },
  verifyRangesChecked: {
    name: 'cdc_verify_ranges_checked_total',
    kind: 'counter',
    unit: '{range}',
    description:
      '`cdc verify --continuous`: key ranges compared by count and checksum (every bisection level).',
    labels: ['source', 'table'],
  },
  verifyRowsChecked: {
    name: 'cdc_verify_rows_checked_total',
    kind: 'counter',
    unit: '{row}',
    description: '`cdc verify --continuous`: source rows compared.',
    labels: ['source', 'table'],
  },
  serviceInfo: {
    name: 'cdc_service_info',
    kind: 'gauge',
    unit: '1',
    description: 'Always 1; labels name the service and its version.',
    labels: ['version'],
  },
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;
export type LabelsOf<K extends MetricKey> = (typeof METRICS)[K]['labels'][number];

/** Label added to every series by the Prometheus endpoint: the `service.name` resource attribute. */
export const SERVICE_LABEL = 'service_name';

/**
 * Every series name the Prometheus endpoint can expose for the catalogue: histograms appear as
 * `_bucket`, `_sum` and `_count`.
 */
export function exportedSeriesNames(): Set<string> {
  const names = new Set<string>();
  for (const spec of Object.values(METRICS) as MetricSpec[]) {
    if (spec.kind === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${spec.name}${suffix}`);
    } else {
      names.add(spec.name);
    }
  }
  return names;
}

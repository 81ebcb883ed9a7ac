/**
 * The shapes the control API answers with: written by the server (read-model.ts,
 * live-metrics.ts) and read by the web console (console/api.ts), one definition for both. Types
 * only, so the console's bundle takes nothing from the server.
 */
export type TableState = 'snapshotting' | 'streaming' | 'paused' | 'stopped' | 'waiting';

export interface TableView {
  source: string;
  kind: 'postgres' | 'mongo';
  /** `schema.table` (PostgreSQL) or `db.collection` (MongoDB). */
  table: string;
  topic: string;
  /** The ClickHouse table the sink writes (null: no sink). */
  sinkTable: string | null;
  state: TableState;
  /** Why it is stopped (a quality rule, a schema change the policy refuses). */
  error: string | null;
  /** The table's (initial or incremental) snapshot: rows read, estimated, rate and time left. */
  snapshot: {
    done: number;
    estimated: number | null;
    percent: number | null;
    rowsPerSecond: number | null;
    etaSeconds: number | null;
  } | null;
  /** Records the capture wrote to the topic / the sink inserted, since those processes started. */
  captured: number | null;
  written: number | null;
  capturedPerS: number | null;
  writtenPerS: number | null;
  /** The sink's consumer lag on the topic (records). */
  lag: number | null;
  /** Source commit → ClickHouse insert, over the changes inserted recently. */
  latency: { p50: number; p99: number } | null;
  /** Dead letters of the topic by reason (sink and capture). */
  deadLetters: Record<string, number>;
}

export interface GraphNode {
  id: string;
  kind: 'source' | 'topic' | 'processor' | 'sink-table';
  label: string;
  /** Records per second through the node (topics: captured; sink tables: written). */
  rate: number | null;
}

export interface PipelineGraph {
  nodes: GraphNode[];
  edges: { from: string; to: string }[];
}

/** One point of the charts. */
export interface RatePoint {
  at: number;
  captured: number | null;
  written: number | null;
  sinkLag: number | null;
  p50: number | null;
  p99: number | null;
}

/** The pipeline as a graph: columns by kind (sources → topics → processors → sink tables), SVG edges. */
import type { GraphNode, PipelineGraph } from './api.ts';

const COLUMNS: GraphNode['kind'][] = ['source', 'topic', 'processor', 'sink-table'];
const W = 280;
const H = 34;
const GAP_X = 50;
const GAP_Y = 10;

/** The end of a long name (topics share their prefix; the table is at the end). */
const short = (label: string, max: number) => (label.length > max ? `…${label.slice(-(max - 1))}` : label);
const rate = (r: number | null) => (r === null ? '' : ` · ${r < 10 ? r.toFixed(1) : Math.round(r)}/s`);

export function GraphView({ graph }: { graph: PipelineGraph }) {
  // An aggregate's output topic goes after its processor: topics fed by a processor sit in the processor column + 1.
  const fedByProcessor = new Set(graph.edges.filter((e) => e.from.startsWith('processor:')).map((e) => e.to));
  const col = (n: GraphNode) => {
    const c = COLUMNS.indexOf(n.kind);
    return n.kind === 'topic' && fedByProcessor.has(n.id) ? 2.5 : c;
  };
  const columns = new Map<number, GraphNode[]>();
  for (const n of graph.nodes) columns.set(col(n), [...(columns.get(col(n)) ?? []), n]);
  const order = [...columns.keys()].sort((a, b) => a - b);
  const pos = new Map<string, { x: number; y: number }>();
  order.forEach((c, i) => {
    (columns.get(c) ?? []).forEach((n, j) => {
      pos.set(n.id, { x: i * (W + GAP_X), y: j * (H + GAP_Y) });
    });
  });
  const width = order.length * (W + GAP_X);
  const height = Math.max(...[...columns.values()].map((l) => l.length), 1) * (H + GAP_Y);
  return (
    <svg
      class="graph"
      width="100%"
      style={{ maxWidth: `${width}px` }}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label="pipeline graph"
    >
      {graph.edges.map((e) => {
        const a = pos.get(e.from);
        const b = pos.get(e.to);
        if (!a || !b) return null;
        const x1 = a.x + W;
        const y1 = a.y + H / 2;
        const x2 = b.x;
        const y2 = b.y + H / 2;
        return (
          <path
            key={`${e.from}>${e.to}`}
            d={`M${x1},${y1} C${x1 + GAP_X / 2},${y1} ${x2 - GAP_X / 2},${y2} ${x2},${y2}`}
            class="edge"
          />
        );
      })}
      {graph.nodes.map((n) => {
        const p = pos.get(n.id);
        if (!p) return null;
        return (
          <g key={n.id} transform={`translate(${p.x},${p.y})`} class={`node ${n.kind}`} data-node={n.id}>
            <rect width={W} height={H} rx={6} />
            <text x={8} y={H / 2 + 4}>
              {short(n.label, n.rate === null ? 38 : 30)}
              <tspan class="rate">{rate(n.rate)}</tspan>
            </text>
            <title>{n.label}</title>
          </g>
        );
      })}
    </svg>
  );
}

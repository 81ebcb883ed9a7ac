import { CdcError } from '@cdc/core';
import type { GlobalStoreNode, GraphNode, SinkNode, SourceNode, TopologyGraph } from './internals/graph.ts';
import type { StoreSpec } from './stores.ts';

/** A connected part of the topology: its tasks (one per input partition) run it independently. */
export interface Subtopology {
  readonly id: number;
  /** Nodes in the order they were added (parents before children). */
  readonly nodes: readonly GraphNode[];
  readonly sources: readonly SourceNode[];
  readonly sinks: readonly SinkNode[];
  readonly children: ReadonlyMap<string, readonly string[]>;
  /** Local stores of this subtopology. */
  readonly stores: readonly StoreSpec[];
}

function describeSource(s: SourceNode): string {
  return s.topics.map((t) => (s.internal ? `<app>-${t}` : t)).join(', ');
}

/**
 * A compiled topology: the DSL's graph cut into subtopologies (connected through repartition
 * topics), with the stores each one owns. Source topics of one subtopology must be
 * co-partitioned (same partition count); the runtime checks that at start.
 */
export class Topology {
  readonly subtopologies: readonly Subtopology[];
  readonly globals: readonly GlobalStoreNode[];
  readonly stores: ReadonlyMap<string, StoreSpec>;

  constructor(subtopologies: Subtopology[], globals: GlobalStoreNode[], stores: Map<string, StoreSpec>) {
    this.subtopologies = subtopologies;
    this.globals = globals;
    this.stores = stores;
  }

  static compile(graph: TopologyGraph): Topology {
    const parent = new Map<string, string>();
    const find = (x: string): string => {
      let r = x;
      while (parent.get(r) !== r) r = parent.get(r) as string;
      parent.set(x, r);
      return r;
    };
    const union = (a: string, b: string) => parent.set(find(a), find(b));
    for (const name of graph.nodes.keys()) parent.set(name, name);
    const storeUser = new Map<string, string>();
    for (const node of graph.nodes.values()) {
      if (node.kind === 'source') continue;
      for (const p of node.parents) union(p, node.name);
      if (node.kind === 'processor') {
        for (const s of node.stores) {
          if (graph.globals.has(s)) continue;
          if (!graph.stores.has(s)) {
            throw new CdcError(
              'CONFIG_INVALID',
              `processor ${node.name} uses store ${s}, which was never added; add it with addStateStore`,
              {
                context: { node: node.name, store: s },
              },
            );
          }
          const other = storeUser.get(s);
          if (other) union(other, node.name);
          else storeUser.set(s, node.name);
        }
      }
    }
    const groups = new Map<string, GraphNode[]>();
    for (const node of graph.nodes.values()) {
      const root = find(node.name);
      const list = groups.get(root) ?? [];
      list.push(node);
      groups.set(root, list);
    }
    const subtopologies: Subtopology[] = [];
    for (const nodes of groups.values()) {
      const sources = nodes.filter((n): n is SourceNode => n.kind === 'source');
      if (sources.length === 0) continue; // a dangling part with no input does nothing
      const children = new Map<string, string[]>();
      for (const n of nodes) {
        if (n.kind === 'source') continue;
        for (const p of n.parents) children.set(p, [...(children.get(p) ?? []), n.name]);
      }
      const storeNames = new Set<string>();
      for (const n of nodes)
        if (n.kind === 'processor') for (const s of n.stores) if (graph.stores.has(s)) storeNames.add(s);
      subtopologies.push({
        id: subtopologies.length,
        nodes,
        sources,
        sinks: nodes.filter((n): n is SinkNode => n.kind === 'sink'),
        children,
        stores: [...storeNames].map((s) => graph.stores.get(s) as StoreSpec),
      });
    }
    const topics = new Map<string, number>();
    for (const st of subtopologies) {
      for (const s of st.sources) {
        for (const t of s.topics) {
          const key = s.internal ? `internal:${t}` : t;
          const owner = topics.get(key);
          if (owner !== undefined && owner !== st.id) {
            throw new CdcError(
              'CONFIG_INVALID',
              `topic ${t} is read by two unconnected parts of the topology; read it once and share the stream`,
              {
                context: { topic: t },
              },
            );
          }
          topics.set(key, st.id);
        }
      }
    }
    return new Topology(subtopologies, [...graph.globals.values()], new Map(graph.stores));
  }

  /** A readable outline, one line per node. */
  describe(): string {
    const lines: string[] = [];
    for (const st of this.subtopologies) {
      lines.push(`Subtopology ${st.id}`);
      for (const n of st.nodes) {
        if (n.kind === 'source') lines.push(`  source ${n.name} ← ${describeSource(n)}`);
        else if (n.kind === 'sink')
          lines.push(
            `  sink ${n.name} → ${n.internal ? '<app>-' : ''}${n.topic} (from ${n.parents.join(', ')})`,
          );
        else
          lines.push(
            `  processor ${n.name} (from ${n.parents.join(', ')})${n.stores.length ? ` stores: ${n.stores.join(', ')}` : ''}`,
          );
      }
    }
    for (const g of this.globals) lines.push(`Global store ${g.store.name} ← ${g.topic}`);
    return lines.join('\n');
  }
}

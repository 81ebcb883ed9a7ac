import type { ProcessorSupplier } from '../processor.ts';
import type { TimestampExtractor } from '../record.ts';
import type { Serde } from '../serde.ts';
import type { StoreSpec } from '../stores.ts';

/** Reads topics. `internal` topics (repartition) are named `<applicationId>-<topic>` at runtime. */
export interface SourceNode {
  readonly kind: 'source';
  readonly name: string;
  readonly topics: readonly string[];
  readonly internal: boolean;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly timestampExtractor: TimestampExtractor;
}

export interface ProcessorNode {
  readonly kind: 'processor';
  readonly name: string;
  readonly parents: readonly string[];
  readonly supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>;
  /** Stores this processor reads or writes (it shares a task with every other user of them). */
  readonly stores: readonly string[];
}

export interface SinkNode {
  readonly kind: 'sink';
  readonly name: string;
  readonly parents: readonly string[];
  readonly topic: string;
  readonly internal: boolean;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
}

/** A table over every partition of a topic, in every task, read-only for processors. */
export interface GlobalStoreNode {
  readonly kind: 'global';
  readonly name: string;
  readonly topic: string;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly store: StoreSpec;
  readonly isDelete: (value: unknown) => boolean;
}

export type GraphNode = SourceNode | ProcessorNode | SinkNode;

/** What the DSL builds: nodes, stores and global stores; compiled into a `Topology` by `build()`. */
export class TopologyGraph {
  readonly nodes = new Map<string, GraphNode>();
  readonly stores = new Map<string, StoreSpec>();
  readonly globals = new Map<string, GlobalStoreNode>();
  private counter = 0;

  /** A fresh node name, `<prefix>-<n>`, unique in this graph. */
  nextName(prefix: string): string {
    this.counter += 1;
    return `${prefix}-${String(this.counter).padStart(4, '0')}`;
  }

  add<N extends GraphNode>(node: N): N {
    if (this.nodes.has(node.name)) throw new Error(`duplicate node name ${node.name}`);
    for (const p of 'parents' in node ? node.parents : []) {
      if (!this.nodes.has(p)) throw new Error(`node ${node.name} has unknown parent ${p}`);
    }
    this.nodes.set(node.name, node);
    return node;
  }

  addStore(spec: StoreSpec): void {
    if (this.stores.has(spec.name) || this.globals.has(spec.name))
      throw new Error(`duplicate store name ${spec.name}`);
    this.stores.set(spec.name, spec);
  }

  addGlobal(node: GlobalStoreNode): void {
    if (this.stores.has(node.store.name) || this.globals.has(node.store.name)) {
      throw new Error(`duplicate store name ${node.store.name}`);
    }
    this.globals.set(node.store.name, node);
  }
}

import type { Serde } from '../serde.ts';
import type { TopologyGraph } from './graph.ts';

/** What every DSL object shares: the graph being built and the default serdes. */
export interface BuilderState {
  readonly graph: TopologyGraph;
  readonly defaultKeySerde: Serde<unknown>;
  readonly defaultValueSerde: Serde<unknown>;
}

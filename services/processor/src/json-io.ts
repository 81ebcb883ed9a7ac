import { Serdes } from '@cdc/streams';
import type { Envelope } from './change.ts';
import { jsonOutputKeySerde, jsonOutputSerde } from './output.ts';
import type { PlainRow } from './plain-value.ts';
import { canonicalRowKey } from './registry-serdes.ts';
import type { TopologyIo } from './topology.ts';

/**
 * JSON in and out: CDC keys and envelopes as JSON text, outputs as JSON with decimals as text.
 * For the topology test driver (and topics written as JSON).
 */
export function jsonTopologyIo(): TopologyIo {
  const json = Serdes.json<unknown>();
  return {
    keySerde: () => ({
      serialize: (_t, v) => (v === null ? null : Buffer.from(v, 'utf8')),
      deserialize: (t, d) => {
        if (d === null) return null;
        const text = d.toString('utf8');
        // Store bytes are the canonical text already (a JSON array); topic keys are key records.
        return text.startsWith('[') ? text : canonicalRowKey(json.deserialize(t, d) as PlainRow);
      },
    }),
    envelopeSerde: () => Serdes.json<Envelope>(),
    tableRowSerde: () => ({
      serialize: (_t, v) => (v === null ? null : Buffer.from(JSON.stringify(v), 'utf8')),
      deserialize: (t, d) => {
        const v = json.deserialize(t, d) as (Envelope & PlainRow) | null;
        if (v === null) return null;
        // Topic values are envelopes (their `after` is the row); store bytes are rows.
        return 'op' in v && 'source' in v ? (v.after as PlainRow | null) : v;
      },
    }),
    outputSerde: () => jsonOutputSerde(),
    outputKeySerde: () => jsonOutputKeySerde(),
  };
}

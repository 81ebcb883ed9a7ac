import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseSchema } from '@cdc/avro';
import { loadPipeline } from '@cdc/pipeline';
import { describe, expect, it } from 'vitest';
import { applyDelta, initialState } from './aggregation-state.ts';
import { outputRecord, toAvroValue } from './output.ts';
import { outputSchema } from './output-schema.ts';

const root = resolve(import.meta.dirname, '../../..');
const demo = loadPipeline(resolve(root, 'infra/pipelines/local.yaml'), {});
const subjects = JSON.parse(readFileSync(resolve(root, 'schemas/subjects.json'), 'utf8')) as {
  schemas: { file: string; topic?: string }[];
};

describe('the demo aggregates’ output schemas', () => {
  it('are the checked-in files under schemas/, registered under their topic', () => {
    const aggregates = demo.processing?.aggregate ?? [];
    expect(aggregates.map((a) => a.name).sort()).toEqual([
      'cart_sessions',
      'revenue_by_region_1m',
      'top_products_15m',
    ]);
    for (const a of aggregates) {
      const entry = subjects.schemas.find((s) => s.topic === a.topic);
      expect(entry, a.topic).toBeDefined();
      const file = JSON.parse(readFileSync(resolve(root, 'schemas', entry?.file as string), 'utf8'));
      expect(outputSchema(a), `${a.name}: regenerate ${entry?.file} from outputSchema()`).toEqual(file);
    }
  });

  it('accept what the processor emits', () => {
    for (const a of demo.processing?.aggregate ?? []) {
      let state = initialState(a.aggregations);
      const row = {
        region: 'eu',
        amount: '12.34',
        product_id: 7,
        productId: 'p',
        lineTotal: '1.5',
        userId: 'u',
      };
      const v = a.aggregations.map((x) =>
        x.fn === 'top'
          ? [row[x.field as 'region'], row[x.by as 'amount']]
          : x.field
            ? row[x.field as 'region']
            : null,
      );
      state = applyDelta(a.aggregations, state, { s: 1, v });
      const record = outputRecord(
        a,
        JSON.stringify(a.groupBy.map(() => 'g')),
        { start: 0, end: 60_000 },
        state,
        5,
      );
      const type = parseSchema(outputSchema(a));
      const value = toAvroValue(a, record as never);
      expect(type.isValid(value), a.name).toBe(true);
    }
  });
});

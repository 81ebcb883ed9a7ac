import { describe, expect, it } from 'vitest';
import { widens } from './widening.ts';

describe('widens', () => {
  it.each([
    ['Int32', 'Int64'],
    ['Int16', 'Int32'],
    ['UInt32', 'Int64'],
    ['UInt8', 'UInt64'],
    ['Float32', 'Float64'],
    ['Int32', 'Float64'],
    ['Int32', 'Nullable(Int64)'],
    ['Int64', 'Nullable(Int64)'],
    ['Nullable(Int32)', 'Nullable(Int64)'],
    ['Decimal(10, 2)', 'Decimal(12, 4)'],
    ['Int32', 'Decimal(20, 2)'],
    ["DateTime64(3, 'UTC')", "DateTime64(6, 'UTC')"],
    ['Date', 'Date32'],
    ['Array(Int32)', 'Array(Int64)'],
    ['LowCardinality(String)', 'String'],
  ])('%s → %s keeps every value: changed in place', (from, to) => {
    expect(widens(from, to)).toBe(true);
  });

  it.each([
    ['Int64', 'Int32'],
    ['Int64', 'Float64'],
    ['Float64', 'Float32'],
    ['UInt64', 'Int64'],
    ['Int8', 'UInt64'],
    ['Nullable(Int32)', 'Int64'],
    ['Decimal(12, 4)', 'Decimal(12, 2)'],
    ['Decimal(10, 2)', 'Decimal(10, 4)'],
    ['Int64', 'Decimal(18, 2)'],
    ["DateTime64(6, 'UTC')", "DateTime64(3, 'UTC')"],
    ["DateTime64(3, 'UTC')", "DateTime64(6, 'Europe/Paris')"],
    ['String', 'Int64'],
    ['Int32', 'String'],
    ['Array(Int64)', 'Array(Int32)'],
  ])('%s → %s could lose or change values: not in place', (from, to) => {
    expect(widens(from, to)).toBe(false);
  });
});

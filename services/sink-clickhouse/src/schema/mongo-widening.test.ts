import { describe, expect, it } from 'vitest';
import { widening } from './tables.ts';

describe('widening: how a MongoDB column takes the type of a field that varied', () => {
  it.each([
    ['Nullable(Int32)', 'Nullable(Int64)', 'modify'],
    ['Nullable(Int32)', 'Nullable(Float64)', 'modify'],
    ['Nullable(Int64)', 'Nullable(Float64)', 'modify'],
    ['Nullable(Int32)', 'Nullable(String)', 'text'],
    ['Nullable(Bool)', 'Nullable(String)', 'text'],
    ["Nullable(DateTime64(3, 'UTC'))", 'Nullable(String)', 'text'],
    ['Nullable(Int32)', 'String', 'text'],
    ['Tuple(a Nullable(Int32))', 'Nullable(String)', 'json'],
    ['Array(Nullable(Int32))', 'Nullable(String)', 'json'],
    ['Tuple(a Nullable(Int32))', 'Tuple(a Nullable(String), b Nullable(Int32))', 'modify'],
    ['Array(Int32)', 'Array(Nullable(Int32))', 'modify'],
    ['Nullable(String)', 'Nullable(Int32)', 'modify-if-null'],
  ])('%s → %s: %s', (have, want, how) => {
    expect(widening(have, want)).toBe(how);
  });

  it.each([
    ['Nullable(Float64)', 'Nullable(Int32)'],
    ['Tuple(a Int32)', 'Array(Int32)'],
    ['String', 'Int32'],
  ])('%s → %s is no widening', (have, want) => {
    expect(widening(have, want)).toBeUndefined();
  });
});

import { CdcError } from '@cdc/core';
import { describe, expect, it } from 'vitest';
import { checkCompatibility } from './compatibility.ts';
import { incompatibleSchemaError, nextTopicVersion, onIncompatibleSchema } from './evolution.ts';
import type { AvroRecordSchema } from './schema-types.ts';

const v1: AvroRecordSchema = { type: 'record', name: 'Order', fields: [{ name: 'id', type: 'long' }] };
const v2: AvroRecordSchema = { ...v1, fields: [...v1.fields, { name: 'warehouse', type: 'string' }] };

describe('incompatibleSchemaError', () => {
  it('names the subject, the level, the field, the rule and the fix', () => {
    const issues = checkCompatibility(v2, [{ version: 4, schema: v1 }], 'BACKWARD');
    const err = incompatibleSchemaError(
      'shop.public.orders-value',
      'BACKWARD',
      issues,
      'Incompatible artifact',
    );
    expect(err.code).toBe('SCHEMA_INCOMPATIBLE');
    expect(err.retriable).toBe(false);
    expect(err.message).toBe(
      'subject shop.public.orders-value (BACKWARD) rejects the new schema: field warehouse: field added without default (against version 4) — ' +
        'field warehouse was added without a default: records written with the old schema have no value for it. ' +
        'To fix: give the new field a default (a nullable field: type ["null", T] with default null).',
    );
    expect(err.context).toMatchObject({
      subject: 'shop.public.orders-value',
      level: 'BACKWARD',
      field: 'warehouse',
      rule: 'field-added-without-default',
      version: 4,
      findings: ['warehouse: field-added-without-default'],
      registryMessage: 'Incompatible artifact',
    });
  });

  it("falls back to the registry's message when the checker finds nothing", () => {
    const err = incompatibleSchemaError(
      's-value',
      'FULL',
      [],
      'list of diff types: [SOMETHING at /fields/0]',
    );
    expect(err.message).toContain(
      'subject s-value (FULL) rejects the new schema: list of diff types: [SOMETHING at /fields/0]',
    );
    expect(err.context).toEqual({
      subject: 's-value',
      level: 'FULL',
      registryMessage: 'list of diff types: [SOMETHING at /fields/0]',
    });
  });
});

describe('schema evolution policy', () => {
  const error = new CdcError(
    'SCHEMA_INCOMPATIBLE',
    'subject shop.public.orders-value (BACKWARD) rejects the new schema: field warehouse: field added without default',
    {
      context: {
        subject: 'shop.public.orders-value',
        field: 'warehouse',
        rule: 'field-added-without-default',
      },
    },
  );

  it('stop: a SCHEMA_INCOMPATIBLE error naming the table, the column, the change and the fix', () => {
    const action = onIncompatibleSchema('stop', {
      topic: 'shop.public.orders',
      table: 'public.orders',
      error,
    });
    expect(action.action).toBe('stop');
    if (action.action !== 'stop') return;
    expect(action.error.code).toBe('SCHEMA_INCOMPATIBLE');
    expect(action.error.message).toMatch(
      /^table public\.orders, column warehouse: an incompatible schema change/,
    );
    expect(action.error.message).toContain('field added without default');
    expect(action.error.message).toContain('revert the change at the source');
    expect(action.error.message).toContain('set schemaEvolution: recreate');
    expect(action.error.context).toMatchObject({
      topic: 'shop.public.orders',
      table: 'public.orders',
      column: 'warehouse',
      field: 'warehouse',
    });
  });

  it('recreate: stays on the same topic, with the reason', () => {
    const action = onIncompatibleSchema('recreate', { topic: 'shop.public.orders', error });
    expect(action).toEqual({ action: 'recreate', reason: expect.stringContaining('same subject') });
  });

  it('new-topic-version: the next versioned topic and its subjects', () => {
    expect(onIncompatibleSchema('new-topic-version', { topic: 'shop.public.orders', error })).toEqual({
      action: 'new-topic-version',
      topic: 'shop.public.orders.v2',
      version: 2,
      keySubject: 'shop.public.orders.v2-key',
      valueSubject: 'shop.public.orders.v2-value',
      reason: expect.stringContaining('Continuing on topic shop.public.orders.v2'),
    });
  });

  it('counts on from an already versioned topic', () => {
    expect(nextTopicVersion('shop.public.orders.v2')).toEqual({ topic: 'shop.public.orders.v3', version: 3 });
    expect(nextTopicVersion('shop.public.orders.v9')).toEqual({
      topic: 'shop.public.orders.v10',
      version: 10,
    });
    // A table whose name merely ends in v-digits is not a version suffix unless dotted.
    expect(nextTopicVersion('shop.public.ordersv2')).toEqual({
      topic: 'shop.public.ordersv2.v2',
      version: 2,
    });
  });
});

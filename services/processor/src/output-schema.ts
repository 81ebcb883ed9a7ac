import type { AvroField, AvroRecordSchema, AvroSchema } from '@cdc/avro';
import type { AggregateDeclaration, AggregationDeclaration } from '@cdc/pipeline';

const MILLIS = { type: 'long', logicalType: 'timestamp-millis' } as const;

function decimal(a: AggregationDeclaration): AvroSchema {
  return { type: 'bytes', logicalType: 'decimal', precision: a.precision, scale: a.scale };
}

/** `revenue_by_region_1m` → `RevenueByRegion1m`. */
export function recordName(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0]?.toUpperCase() + p.slice(1))
    .join('')
    .replace(/^(\d)/, '_$1');
}

function aggregationField(decl: AggregateDeclaration, a: AggregationDeclaration): AvroField {
  switch (a.fn) {
    case 'count':
      return {
        name: a.name,
        type: 'long',
        doc: a.field ? `Rows where ${a.field} is not null.` : 'Rows in the group.',
      };
    case 'count_distinct':
      return { name: a.name, type: 'long', doc: `Distinct non-null values of ${a.field}.` };
    case 'avg':
      return {
        name: a.name,
        type: ['null', 'double'],
        default: null,
        doc: `Average of ${a.field}; null when none.`,
      };
    case 'top':
      return {
        name: a.name,
        doc: `The ${a.n} values of ${a.field} with the largest sum of ${a.by}, highest first.`,
        type: {
          type: 'array',
          items: {
            type: 'record',
            name: `${recordName(decl.name)}${recordName(a.name)}Entry`,
            fields: [
              { name: 'rank', type: 'int', doc: '1 for the largest sum.' },
              { name: 'key', type: ['null', 'string'], default: null, doc: `The value of ${a.field}.` },
              { name: 'value', type: decimal(a), doc: `Sum of ${a.by}.` },
              { name: 'count', type: 'long', doc: 'Rows with this key.' },
            ],
          },
        },
      };
    default:
      return {
        name: a.name,
        type: ['null', decimal(a)],
        default: null,
        doc: `${a.fn}(${a.field}); null when no row has a value.`,
      };
  }
}

/**
 * The value schema of an aggregate's output topic, from its declaration alone (so that it can be
 * checked in under `schemas/` and compared in a test): the window bounds (windowed aggregates),
 * the group fields as text (null when the row had none), one field per aggregation, and
 * `emittedAtMs`.
 */
export function outputSchema(decl: AggregateDeclaration): AvroRecordSchema {
  const w = decl.window;
  const windowDoc =
    w === undefined
      ? 'no window'
      : w.type === 'session'
        ? `session windows closed by a ${w.gap} ms gap`
        : w.type === 'tumbling'
          ? `${w.size} ms tumbling windows`
          : `${w.size} ms hopping windows advancing by ${w.advance} ms`;
  const fields: AvroField[] = [];
  if (w) {
    const session = w.type === 'session';
    fields.push(
      {
        name: 'windowStartMs',
        type: MILLIS,
        doc: session ? 'Time of the session’s first event.' : 'Window start, inclusive.',
      },
      {
        name: 'windowEndMs',
        type: MILLIS,
        doc: session ? 'Time of the session’s last event.' : 'Window end, exclusive.',
      },
    );
  }
  for (const g of decl.groupBy)
    fields.push({ name: g, type: ['null', 'string'], default: null, doc: 'Group key.' });
  for (const a of decl.aggregations) fields.push(aggregationField(decl, a));
  fields.push({ name: 'emittedAtMs', type: MILLIS, doc: 'When the processor emitted this result.' });
  return {
    type: 'record',
    name: recordName(decl.name),
    namespace: 'io.cdc.aggregates',
    doc: `Aggregate ${decl.name} of ${decl.from} grouped by ${decl.groupBy.join(', ') || 'nothing'}, ${windowDoc}; emitted ${decl.emit ?? (w ? 'on-close' : 'on-update')}.`,
    fields,
  };
}

/**
 * The key schema of an aggregate's output topic (`<topic>-key`): what identifies one result, so
 * that the sink upserts one row per group (and window) and a tombstone deletes it: the group
 * fields' values as canonical JSON text (`["eu"]`) and, when windowed, the window start.
 */
export function outputKeySchema(decl: AggregateDeclaration): AvroRecordSchema {
  const fields: AvroField[] = [
    {
      name: 'group',
      type: 'string',
      doc: `The values of ${decl.groupBy.join(', ') || 'no field'} as a JSON array, in that order.`,
    },
  ];
  if (decl.window)
    fields.push({
      name: 'windowStartMs',
      type: MILLIS,
      doc: decl.window.type === 'session' ? 'Time of the session’s first event.' : 'Window start, inclusive.',
    });
  return {
    type: 'record',
    name: `${recordName(decl.name)}Key`,
    namespace: 'io.cdc.aggregates',
    doc: `Identifies one result of aggregate ${decl.name}.`,
    fields,
  };
}

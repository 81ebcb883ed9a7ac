import {
  type AvroRecordSchema,
  derivePgRowSchema,
  envelopeSchema,
  keySchema,
  type PgColumn,
  type PgRelation,
  type PgType,
  parseSchema,
  pgKeyFromRow,
  pgRowFromText,
  type RegistryClient,
} from '@cdc/avro';
import { describe, expect, it } from 'vitest';
import { type KafkaRecord, RecordDecoder } from './decode.ts';
import { keyedLine, LineWriter } from './row-encoder.ts';
import { sourceCommitMs } from './row-item.ts';

const TOPIC = 'cdc.shop.public.items';
const t = (name: string): PgType => ({ oid: 0, schema: 'pg_catalog', name, kind: 'base' });
const col = (name: string, type: string, notNull = false, isKey = false, typmod = -1): PgColumn => ({
  name,
  type: t(type),
  typmod,
  notNull,
  isKey,
});
const numeric = (p: number, s: number) => ((p << 16) | s) + 4;

/** Every column type the transcoder covers, each nullable too (`n_…`). */
const ALL_TYPES: PgColumn[] = [
  col('id', 'int8', true, true),
  col('i2', 'int2', true),
  col('i4', 'int4', true),
  col('i8', 'int8', true),
  col('amount', 'numeric', true, false, numeric(12, 2)),
  col('big', 'numeric', true, false, numeric(38, 0)),
  col('tiny', 'numeric', true, false, numeric(4, 4)),
  col('free', 'numeric', true),
  col('r', 'float4', true),
  col('d', 'float8', true),
  col('b', 'bool', true),
  col('s', 'text', true),
  col('v', 'varchar', true),
  col('c', 'bpchar', true, false, 5 + 4),
  col('u', 'uuid', true),
  col('day', 'date', true),
  col('tod', 'time', true),
  col('todtz', 'timetz', true),
  col('ts', 'timestamp', true),
  col('tstz', 'timestamptz', true),
  col('j', 'jsonb', true),
  col('raw', 'bytea', true),
  col('n_i4', 'int4'),
  col('n_i8', 'int8'),
  col('n_amount', 'numeric', false, false, numeric(12, 2)),
  col('n_d', 'float8'),
  col('n_b', 'bool'),
  col('n_s', 'text'),
  col('n_u', 'uuid'),
  col('n_day', 'date'),
  col('n_tstz', 'timestamptz'),
  col('n_raw', 'bytea'),
  col('We"ird Náme', 'text'),
];

/** A topic of one table: its schemas registered as 1 (value) and 2 (key) + `base`. */
class Topic {
  readonly relation: PgRelation;
  readonly rs: ReturnType<typeof derivePgRowSchema>;
  readonly valueText: string;
  readonly keyText: string;
  readonly valueType: ReturnType<typeof parseSchema>;
  readonly keyType: ReturnType<typeof parseSchema>;
  readonly valueId: number;
  readonly keyId: number;
  private offset = 0;

  constructor(columns: PgColumn[], base = 0, topic = TOPIC) {
    this.relation = { schema: 'public', name: 'items', columns };
    this.rs = derivePgRowSchema(this.relation);
    this.valueText = JSON.stringify(envelopeSchema(topic, this.rs.row, 'postgresql'));
    this.keyText = JSON.stringify(keySchema(topic, this.rs.keyFields));
    this.valueType = parseSchema(this.valueText);
    this.keyType = parseSchema(this.keyText);
    this.valueId = base + 1;
    this.keyId = base + 2;
  }

  /** A change of the row whose columns have PostgreSQL's text `texts`. */
  change(
    texts: (string | null)[],
    options: {
      op?: string;
      before?: (string | null)[] | null;
      noAfter?: boolean;
      changeId?: string;
      tsMs?: bigint;
    } = {},
  ): KafkaRecord {
    const op = options.op ?? 'c';
    const row = pgRowFromText(this.rs, texts);
    const before =
      options.before === undefined ? null : options.before && pgRowFromText(this.rs, options.before);
    const k = ++this.offset;
    const lsn = `0/${(0x1000 + k * 16).toString(16).toUpperCase()}`;
    const value = {
      before: op === 'd' ? (options.before === undefined ? row : before) : before,
      after: op === 'd' || op === 't' || options.noAfter ? null : row,
      source: {
        connector: 'postgresql',
        name: 'shop',
        db: 'shop',
        schema: 'public',
        table: 'items',
        lsn,
        commitLsn: lsn,
        txId: String(k),
        tsMs: options.tsMs ?? 1_735_689_600_000n + BigInt(k),
        snapshot: op === 'r' ? 'true' : 'false',
      },
      op,
      tsMs: 1_735_689_600_000n,
      changeId:
        options.changeId ??
        `${(0x1000 + k * 16).toString(16).padStart(16, '0')}-${k.toString(16).padStart(8, '0')}`,
    };
    return {
      topic: TOPIC,
      partition: 0,
      offset: String(k),
      key: framed(
        this.keyId,
        this.keyType.toBuffer(pgKeyFromRow(this.rs, op === 'd' ? (value.before ?? row) : row)),
      ),
      value: framed(this.valueId, this.valueType.toBuffer(value)),
      timestamp: '1735689600000',
    };
  }
}

const framed = (id: number, payload: Buffer) => {
  const head = Buffer.alloc(5);
  head.writeInt32BE(id, 1);
  return Buffer.concat([head, payload]);
};

function registryOf(...topics: Topic[]): RegistryClient {
  const texts = new Map<number, string>();
  for (const tp of topics) {
    texts.set(tp.valueId, tp.valueText);
    texts.set(tp.keyId, tp.keyText);
  }
  return {
    url: 'in-memory',
    schemaById: async (id: number) => texts.get(id),
    version: async () => undefined,
  } as unknown as RegistryClient;
}

/**
 * Today's line of each record (decoded, then encoded by `LineWriter.writeCompact` with the
 * transcoder's columns) beside the transcoder's (undefined: it gave up, and wrote nothing), from
 * two decoders that each saw the schemas first.
 */
async function bothWays(topics: Topic[], records: KafkaRecord[], keyColumns?: readonly string[]) {
  const registry = registryOf(...topics);
  const reference = new RecordDecoder(registry, () => keyColumns);
  const transcoding = new RecordDecoder(registry, () => keyColumns);
  // The schemas are fetched once (`decode` waits for them); the transcoder needs them known.
  for (const r of records) await transcoding.decode(r).catch(() => undefined);
  const out = new LineWriter(16);
  return Promise.all(
    records.map(async (record) => {
      const before = out.length;
      const t = transcoding.transcodeKnown(record, out);
      const line = t === undefined ? undefined : out.bytes().subarray(before, out.length).toString('latin1');
      if (t === undefined) expect(out.length).toBe(before);
      let expected: string | undefined;
      let error: unknown;
      let row: Record<string, unknown> | undefined;
      let source: string | undefined;
      try {
        const d = await reference.decode(record);
        if (d.kind === 'row') {
          row = d.row;
          source = d.source;
          const w = new LineWriter(16);
          w.writeCompact(d.row, t?.columns ?? Object.keys(d.row));
          expected = w.bytes().toString('latin1');
        }
      } catch (err) {
        error = err;
      }
      if (t !== undefined && row !== undefined) {
        // The row's columns, in its order; a delete's row lacks those its line holds null.
        expect(t.columns.filter((c) => c in row!)).toEqual(Object.keys(row));
        expect(t.source).toBe(source);
        expect(t.commitMs).toBe(sourceCommitMs({ row, record }));
      }
      return { line, expected, error, row, columns: t?.columns };
    }),
  );
}

/** A transcoded line as the JSONEachRow line of the same row (names beside values, to read). */
function keyed(l: { line?: string; columns?: readonly string[] }): string {
  return keyedLine(Buffer.from(l.line!, 'latin1'), l.columns!).toString('latin1');
}

/** PostgreSQL text for the columns of `ALL_TYPES`, varied by `k`. */
function allTypesRow(k: number, nulls: boolean): (string | null)[] {
  const n = <T>(v: T) => (nulls ? null : v);
  return [
    String(k),
    String((k * 331) % 32768),
    String(-k * 1_000_003),
    ['9223372036854775807', '-9223372036854775808', '9007199254740993', '-9007199254740993', '0'][k % 5]!,
    ['-1234567890.12', '0.00', '-0.01', '9999999999.99', '1.5'][k % 5]!,
    ['-12345678901234567890123456789012345678', '0', '99999999999999999999999999999999999999', '-1', '5'][
      k % 5
    ]!,
    ['0.0001', '-0.9999', '0', '0.5', '-0.0001'][k % 5]!,
    ['3.14159265358979323846264338327950288419', '-0', 'NaN', '0.00000000000000000001', '100'][k % 5]!,
    ['NaN', 'Infinity', '-Infinity', '-0', '0.1'][k % 5]!,
    ['1e21', '5e-324', '-1.7976931348623157e308', '0.30000000000000004', '-0'][k % 5]!,
    k % 2 ? 't' : 'f',
    [
      'plain',
      'quote " backslash \\ slash /',
      'ctl \u0001\u0008\u0009\u000a\u000c\u000d\u001f del \u007f',
      'unicode é ✓ 😀 \u2028\u2029 \ufeff',
      '',
    ][k % 5]!,
    `v${k}`,
    'ab',
    `6f1c2a9e-3b1d-4a47-9d63-${k.toString(16).padStart(12, '0')}`,
    ['1900-01-01', '2299-12-31', '1970-01-01', '1969-12-31', '2024-02-29'][k % 5]!,
    ['00:00:00', '23:59:59.999999', '12:34:56.5', '24:00:00', '01:02:03'][k % 5]!,
    '12:00:00+02',
    [
      '1900-01-01 00:00:00',
      '2299-12-31 23:59:59.999999',
      '1969-12-31 23:59:59.999999',
      '1970-01-01 00:00:00.000001',
      '2262-04-11 23:47:16.854776',
    ][k % 5]!,
    [
      '1900-01-01 00:00:00+00',
      '2299-12-31 23:59:59.999999+00',
      '1969-12-31 23:59:59.5+00',
      '2255-06-05 23:47:34.740992+00',
      '2025-01-01 10:00:00+02',
    ][k % 5]!,
    '{"a": [1, "x\\"y"], "é": null}',
    ['\\x00ff22', '\\x', '\\x5c0a0d7f80', '\\xdeadbeef', '\\x22'][k % 5]!,
    n(String(k)),
    n(String(-k)),
    n('-0.50'),
    n('NaN'),
    n('t'),
    n('text "quoted"'),
    n('00000000-0000-0000-0000-000000000000'),
    n('2000-01-01'),
    n('2000-01-01 00:00:00+00'),
    n('\\x01'),
    n('weird'),
  ];
}

describe('the transcoder writes the line decoding and encoding write', () => {
  it('for every type it covers, nulls, escapes, unicode, big longs, negative decimals', async () => {
    const topic = new Topic(ALL_TYPES);
    const records = [];
    for (let k = 0; k < 40; k++) records.push(topic.change(allTypesRow(k, k % 2 === 0)));
    const lines = await bothWays([topic], records);
    for (const l of lines) {
      expect(l.line).toBeDefined();
      expect(l.line).toBe(l.expected);
    }
  });

  it('for updates with a before image, snapshot reads and deletes (a before image holding the key only)', async () => {
    const topic = new Topic(ALL_TYPES);
    const keyOnly = allTypesRow(3, true).map((v, i) => (ALL_TYPES[i]!.notNull ? v : null));
    const records = [
      topic.change(allTypesRow(1, false), { op: 'u', before: allTypesRow(2, false) }),
      topic.change(allTypesRow(1, false), { op: 'r', changeId: 'snap-0123456789abcdef' }),
      topic.change(allTypesRow(3, false), { op: 'd', before: keyOnly }),
      topic.change(allTypesRow(4, false), { op: 'd' }),
    ];
    const lines = await bothWays([topic], records);
    for (const l of lines) expect(l.line).toBe(l.expected);
    // The delete's columns out of its replica identity: null, read as their defaults.
    expect(keyed(lines[2]!)).toContain('"_is_deleted":1');
    expect(keyed(lines[2]!)).toContain('"n_s":null');
    expect(lines[2]!.row).not.toHaveProperty('n_s');
  });

  it('for each version of a schema that gained a column with a default', async () => {
    const v1 = new Topic([col('id', 'int8', true, true), col('name', 'text')]);
    const v2Columns = [col('id', 'int8', true, true), col('name', 'text'), col('qty', 'int4', true)];
    const v2 = new Topic(v2Columns, 10);
    // The capture's evolution adds the new column's default to its field.
    const withDefault = JSON.parse(v2.valueText) as AvroRecordSchema;
    const rowRecord = (withDefault.fields[0]!.type as unknown as [string, AvroRecordSchema])[1];
    rowRecord.fields[2]!.default = 1;
    (v2 as { valueText: string }).valueText = JSON.stringify(withDefault);
    const lines = await bothWays([v1, v2], [v1.change(['1', 'old']), v2.change(['2', 'new', '7'])]);
    for (const l of lines) {
      expect(l.line).toBeDefined();
      expect(l.line).toBe(l.expected);
    }
    expect(lines[0]!.columns).not.toContain('qty');
    expect(lines[1]!.columns).toContain('qty');
  });

  it('with a key column of its own (a key field that is not a non-nullable row column)', async () => {
    const topic = new Topic([col('id', 'int8', false, true), col('name', 'text')]);
    const lines = await bothWays([topic], [topic.change(['5', 'x']), topic.change(['6', null], { op: 'd' })]);
    for (const l of lines) {
      expect(l.line).toBeDefined();
      expect(l.line).toBe(l.expected);
    }
    expect(keyed(lines[0]!)).toContain('"_key_id":"5"');
  });

  it('for a table keyed by keyColumns (no key record)', async () => {
    const topic = new Topic([col('id', 'int8', true), col('name', 'text')]);
    const record = { ...topic.change(['5', 'x']), key: null };
    const [l] = await bothWays([topic], [record], ['id']);
    expect(l!.line).toBeDefined();
    expect(l!.line).toBe(l!.expected);
  });
});

describe('the transcoder writes the meta columns decoding writes', () => {
  it('for change ids and source times of every form, and sources that change within a batch', async () => {
    const topic = new Topic([col('id', 'int8', true, true), col('name', 'text')]);
    const records = [
      topic.change(['1', 'a'], { changeId: '00000000ffffffff-ffffffff' }),
      topic.change(['2', 'a'], { changeId: 'ffffffffffffffff-00000000' }),
      topic.change(['3', 'a'], { op: 'r', changeId: '0000000000001000-00000001' }),
      topic.change(['4', 'a'], { op: 'r', changeId: 'snap-abc' }),
      topic.change(['5', 'a'], { changeId: '00000000000010AB-00000001' }),
      topic.change(['6', 'a'], { changeId: '00000000000010ab-0000001' }),
      topic.change(['7', 'a'], { changeId: 'cdc.shop.public.items/0/7' }),
      topic.change(['8', 'a'], { tsMs: 0n }),
      topic.change(['9', 'a'], { tsMs: 999n }),
      topic.change(['10', 'a'], { tsMs: -1_000n }),
      topic.change(['11', 'a'], { tsMs: 2n ** 62n }),
      topic.change(['12', 'a'], { tsMs: 1000n }),
    ];
    // The same table's changes from another database: another source name.
    const other = new Topic([col('id', 'int8', true, true), col('name', 'text')]);
    const moved = other.change(['13', 'b']);
    const envelope = other.valueType.fromBuffer(moved.value!.subarray(5)) as { source: { db: string } };
    envelope.source.db = 'shop2';
    records.push({
      ...moved,
      value: Buffer.concat([moved.value!.subarray(0, 5), other.valueType.toBuffer(envelope)]),
    });
    records.push(topic.change(['14', 'c']));
    const lines = await bothWays([topic], records);
    for (const l of lines) {
      if (l.error !== undefined) expect(l.line).toBeUndefined();
      else expect(l.line).toBe(l.expected);
    }
    expect(lines.filter((l) => l.line !== undefined).length).toBeGreaterThanOrEqual(10);
  });
});

describe('the transcoder gives up, writing nothing, and the decoder decides', () => {
  it('on dates and timestamps outside 1900–2299 (they go to _out_of_range)', async () => {
    const topic = new Topic([col('id', 'int8', true, true), col('day', 'date'), col('at', 'timestamptz')]);
    const records = [
      topic.change(['1', '1899-12-31', null]),
      topic.change(['2', 'infinity', null]),
      topic.change(['3', null, '2300-01-01 00:00:00+00']),
      topic.change(['4', null, '-infinity']),
      topic.change(['5', '2000-01-01', '2000-01-01 00:00:00+00']),
    ];
    const lines = await bothWays([topic], records);
    for (const l of lines.slice(0, 4)) {
      expect(l.line).toBeUndefined();
      expect(l.row).toHaveProperty('_out_of_range');
    }
    expect(lines[4]!.line).toBe(lines[4]!.expected);
  });

  it('on truncations, deletes without a before image and changes without an after image', async () => {
    const topic = new Topic([col('id', 'int8', true, true), col('name', 'text')]);
    const lines = await bothWays(
      [topic],
      [
        topic.change(['1', 'x'], { op: 't' }),
        topic.change(['2', 'x'], { op: 'd', before: null }),
        topic.change(['3', 'x'], { noAfter: true }),
      ],
    );
    expect(lines.map((l) => l.line)).toEqual([undefined, undefined, undefined]);
  });

  it('on bytes that do not decode (truncated, trailing, a bad union index): the decoder reports them', async () => {
    const topic = new Topic([col('id', 'int8', true, true), col('name', 'text')]);
    const good = topic.change(['1', 'x']);
    const value = good.value!;
    // after: branch 1, id 1; name: branch 1, length 1, "x"
    const nameBranch = value.indexOf(Buffer.from([0x02, 0x02, 0x02, 0x02, 0x78])) + 2;
    const badUnion = Buffer.from(value);
    badUnion[nameBranch] = 0x08;
    const records = [
      { ...good, value: value.subarray(0, value.length - 3) },
      { ...good, value: Buffer.concat([value, Buffer.from([0])]) },
      { ...good, value: badUnion },
      { ...good, key: good.key!.subarray(0, 5) },
      { ...good, key: Buffer.concat([Buffer.from([0, 0xff, 0xff, 0xff, 0xfe]), good.key!.subarray(5)]) },
    ];
    const lines = await bothWays([topic], records);
    for (const l of lines) {
      expect(l.line).toBeUndefined();
      expect(l.error).toBeDefined();
    }
  });

  it('on strings that are not UTF-8 only where the decoder decodes them differently: never', async () => {
    const topic = new Topic([col('id', 'int8', true, true), col('name', 'text')]);
    const good = topic.change(['1', 'abcd']);
    const bad = Buffer.from(good.value!);
    const at = bad.indexOf(Buffer.from('abcd'));
    bad.set([0xff, 0xc3, 0xed, 0xa0], at); // invalid bytes, a truncated sequence, a surrogate's lead
    const [l] = await bothWays([topic], [{ ...good, value: bad }]);
    expect(l!.line).toBeDefined();
    expect(l!.line).toBe(l!.expected);
  });

  it('for shapes it does not cover (arrays, intervals), with nothing written', async () => {
    const text = t('text');
    const tags: PgColumn = { ...col('tags', '_text'), type: { ...t('_text'), kind: 'array', element: text } };
    const topic = new Topic([col('id', 'int8', true, true), tags]);
    const interval = new Topic([col('id', 'int8', true, true), col('gap', 'interval')], 20);
    const lines = await bothWays(
      [topic, interval],
      [topic.change(['1', '{a,"b c"}']), interval.change(['2', '1 day'])],
    );
    for (const l of lines) {
      expect(l.line).toBeUndefined();
      expect(l.expected).toBeDefined();
    }
  });
});

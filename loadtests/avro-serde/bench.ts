/**
 * Avro serde throughput: encode + decode of a realistic change event (the envelope around a
 * 20-column order row) through `AvroSerde` with warm caches, records per second on one thread,
 * beside the same events through JSON.stringify/JSON.parse (to and from UTF-8 bytes) in the
 * same run. Rounds alternate Avro and JSON; the median of each side is reported, and the ratio.
 *
 *   npm run -w @cdc/loadtests bench:avro [-- --seconds 5 --rounds 3]
 *
 * Needs the schema registry (the local stack's, or CDC_SCHEMA_REGISTRY_URL) only to register
 * the schema once before timing starts; the timed loop makes no request.
 */
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { type AvroRecordSchema, AvroSerde, envelopeSchema, RegistryClient } from '@cdc/avro';
import { localEndpoints } from '@cdc/local-stack';
import { median } from '../lib/median.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    registry: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const url = values.registry ?? process.env.CDC_SCHEMA_REGISTRY_URL ?? localEndpoints().registry.url;

const TOPIC = 'bench.shop.public.orders';
const SUBJECT = `bench.avro-serde.${process.pid}.${TOPIC}-value`;

const decimal = (precision: number, scale: number) => ({
  type: 'bytes' as const,
  logicalType: 'decimal',
  precision,
  scale,
});
const micros = { type: 'long' as const, logicalType: 'timestamp-micros' };

/** public.orders: 20 columns of the types a shop's orders table has, as the postgres converter maps them. */
const ORDER_ROW: AvroRecordSchema = {
  type: 'record',
  name: 'Value',
  fields: [
    { name: 'id', type: 'long', 'cdc.type': 'int8' },
    { name: 'customer_id', type: 'long', 'cdc.type': 'int8' },
    { name: 'order_no', type: 'int', 'cdc.type': 'int4' },
    { name: 'status', type: 'string', 'cdc.type': 'text' },
    { name: 'currency', type: 'string', 'cdc.type': 'bpchar' },
    { name: 'subtotal', type: decimal(12, 2), 'cdc.type': 'numeric' },
    { name: 'tax', type: decimal(12, 2), 'cdc.type': 'numeric' },
    { name: 'total', type: decimal(12, 2), 'cdc.type': 'numeric' },
    { name: 'discount_pct', type: ['null', decimal(5, 2)], default: null, 'cdc.type': 'numeric' },
    { name: 'quantity', type: 'int', 'cdc.type': 'int4' },
    { name: 'is_gift', type: 'boolean', 'cdc.type': 'bool' },
    { name: 'is_paid', type: 'boolean', 'cdc.type': 'bool' },
    { name: 'created_at', type: micros, 'cdc.type': 'timestamptz' },
    { name: 'updated_at', type: micros, 'cdc.type': 'timestamptz' },
    { name: 'shipped_at', type: ['null', micros], default: null, 'cdc.type': 'timestamptz' },
    {
      name: 'ship_date',
      type: ['null', { type: 'int', logicalType: 'date' }],
      default: null,
      'cdc.type': 'date',
    },
    { name: 'tracking_id', type: { type: 'string', logicalType: 'uuid' }, 'cdc.type': 'uuid' },
    { name: 'notes', type: ['null', 'string'], default: null, 'cdc.type': 'text' },
    { name: 'metadata', type: ['null', 'string'], default: null, 'cdc.type': 'jsonb' },
    { name: 'region', type: 'string', 'cdc.type': 'text' },
  ],
};
const SCHEMA = envelopeSchema(TOPIC, ORDER_ROW, 'postgresql');

/** A decimal's unscaled value as Avro's big-endian two's-complement bytes. */
function decimalBytes(unscaled: bigint): Buffer {
  let hex = (unscaled < 0n ? -unscaled : unscaled).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let buf = Buffer.from(hex, 'hex');
  if ((buf[0] as number) & 0x80) buf = Buffer.concat([Buffer.from([0]), buf]);
  if (unscaled < 0n) {
    for (let i = 0; i < buf.length; i++) buf[i] = ~(buf[i] as number) & 0xff;
    for (let i = buf.length - 1; i >= 0; i--) {
      buf[i] = ((buf[i] as number) + 1) & 0xff;
      if (buf[i] !== 0) break;
    }
  }
  return buf;
}

const cents = (c: number) => `${Math.trunc(c / 100)}.${String(c % 100).padStart(2, '0')}`;
const REGIONS = ['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south'];
const STATUSES = ['new', 'paid', 'packed', 'shipped', 'delivered'];

/** The same change event in the two forms: Avro values (bigint, decimal bytes) and JSON (numbers, decimal strings). */
function makeEvent(i: number): { avro: unknown; json: unknown } {
  const base = 1_735_689_600_000_000 + i * 1_234_567;
  const subtotal = 1_000 + ((i * 7919) % 500_000);
  const tax = Math.round(subtotal * 0.2);
  const shipped = i % 3 === 0;
  const row = {
    id: 10_000_000 + i,
    customer_id: 500_000 + ((i * 31) % 100_000),
    order_no: 100_000 + i,
    status: STATUSES[i % STATUSES.length] as string,
    currency: 'EUR',
    subtotal,
    tax,
    total: subtotal + tax,
    discount_pct: i % 4 === 0 ? 1_250 : null,
    quantity: 1 + (i % 9),
    is_gift: i % 7 === 0,
    is_paid: i % 2 === 0,
    created_at: base,
    updated_at: base + 5_000_000,
    shipped_at: shipped ? base + 86_400_000_000 : null,
    ship_date: shipped ? 20_090 + (i % 30) : null,
    tracking_id: `6f1c2a9e-3b1d-4a47-9d63-${(i % 1e12).toString(16).padStart(12, '0')}`,
    notes: i % 5 === 0 ? 'Leave the parcel with the neighbour at number 12 if nobody answers.' : null,
    metadata: JSON.stringify({
      channel: i % 2 ? 'web' : 'app',
      campaign: `spring-${i % 10}`,
      items: [i % 97, i % 89],
    }),
    region: REGIONS[i % REGIONS.length] as string,
  };
  const source = {
    connector: 'postgresql',
    name: 'bench',
    db: 'shop',
    schema: 'public',
    table: 'orders',
    lsn: `16/${(0xb374d848 + i * 64).toString(16).toUpperCase()}`,
    commitLsn: `16/${(0xb374d848 + i * 64).toString(16).toUpperCase()}`,
    txId: String(800_000 + i),
    tsMs: Math.trunc(base / 1000),
    snapshot: 'false',
  };
  const before = i % 2 ? { ...row, status: 'new', updated_at: base } : null;
  const changeId = `00000016${(0xb374d848 + i * 64).toString(16)}-00000000`;
  const avroRow = (r: typeof row) => ({
    ...r,
    id: BigInt(r.id),
    customer_id: BigInt(r.customer_id),
    subtotal: decimalBytes(BigInt(r.subtotal)),
    tax: decimalBytes(BigInt(r.tax)),
    total: decimalBytes(BigInt(r.total)),
    discount_pct: r.discount_pct === null ? null : decimalBytes(BigInt(r.discount_pct)),
    created_at: BigInt(r.created_at),
    updated_at: BigInt(r.updated_at),
    shipped_at: r.shipped_at === null ? null : BigInt(r.shipped_at),
  });
  const jsonRow = (r: typeof row) => ({
    ...r,
    subtotal: cents(r.subtotal),
    tax: cents(r.tax),
    total: cents(r.total),
    discount_pct: r.discount_pct === null ? null : cents(r.discount_pct),
  });
  const op = i % 2 ? 'u' : 'c';
  const tsMs = Math.trunc(base / 1000) + 3;
  return {
    avro: {
      before: before && avroRow(before),
      after: avroRow(row),
      source: { ...source, tsMs: BigInt(source.tsMs) },
      op,
      tsMs: BigInt(tsMs),
      changeId,
    },
    json: { before: before && jsonRow(before), after: jsonRow(row), source, op, tsMs, changeId },
  };
}

const EVENTS = Array.from({ length: 1_000 }, (_, i) => makeEvent(i));
const AVRO = EVENTS.map((e) => e.avro);
const JSONS = EVENTS.map((e) => e.json);

const client = new RegistryClient({ url });
const serde = new AvroSerde({ registry: client });
const writer = await serde.writerFor(SUBJECT, SCHEMA);

/** CPU seconds per 100,000 records of the last round (user + system of this process). */
let lastCpuPer100k = Number.NaN;
let sink = 0; // keeps the work observable so that it cannot be optimized away

async function avroRound(seconds: number): Promise<number> {
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    for (let k = 0; k < 200; k++, n++) {
      const bytes = writer.encode(AVRO[n % AVRO.length]);
      const back = (await serde.deserialize(bytes)) as { op: string };
      sink += back.op.length + bytes.length;
    }
  }
  const cpu = process.cpuUsage(cpu0);
  lastCpuPer100k = ((cpu.user + cpu.system) / 1e6) * (100_000 / n);
  return n / seconds;
}

async function jsonRound(seconds: number): Promise<number> {
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    for (let k = 0; k < 200; k++, n++) {
      const bytes = Buffer.from(JSON.stringify(JSONS[n % JSONS.length]), 'utf8');
      const back = (await Promise.resolve(JSON.parse(bytes.toString('utf8')))) as { op: string };
      sink += back.op.length + bytes.length;
    }
  }
  const cpu = process.cpuUsage(cpu0);
  lastCpuPer100k = ((cpu.user + cpu.system) / 1e6) * (100_000 / n);
  return n / seconds;
}

const canonical = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));

try {
  // Correctness first: both forms come back as they went in.
  for (const e of EVENTS.slice(0, 50)) {
    // (avsc decodes records as instances of generated classes: compare their content.)
    if (canonical(await serde.deserialize(writer.encode(e.avro))) !== canonical(e.avro))
      throw new Error('Avro round trip changed an event');
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(e.json)), e.json))
      throw new Error('JSON round trip changed an event');
  }
  const avroBytes = AVRO.reduce<number>((s, v) => s + writer.encode(v).length, 0) / AVRO.length;
  const jsonBytes =
    JSONS.reduce<number>((s, v) => s + Buffer.byteLength(JSON.stringify(v)), 0) / JSONS.length;

  await avroRound(1); // warm-up: JIT, caches
  await jsonRound(1);
  const avroRates: number[] = [];
  const jsonRates: number[] = [];
  const avroCpu: number[] = [];
  const jsonCpu: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    avroRates.push(await avroRound(SECONDS));
    avroCpu.push(lastCpuPer100k);
    jsonRates.push(await jsonRound(SECONDS));
    jsonCpu.push(lastCpuPer100k);
    process.stderr.write(
      `round ${r + 1}/${ROUNDS}: avro ${Math.round(avroRates.at(-1) as number)}/s, json ${Math.round(jsonRates.at(-1) as number)}/s\n`,
    );
  }
  const avro = median(avroRates);
  const json = median(jsonRates);
  const result = {
    benchmark: 'avro-serde',
    event: 'Debezium-style envelope around a 20-column order row (before+after on updates)',
    node: process.version,
    secondsPerRound: SECONDS,
    rounds: ROUNDS,
    avroRecordsPerSecond: Math.round(avro),
    jsonRecordsPerSecond: Math.round(json),
    avroToJsonRatio: Number((avro / json).toFixed(2)),
    avroCpuSecondsPer100k: Number(median(avroCpu).toFixed(3)),
    jsonCpuSecondsPer100k: Number(median(jsonCpu).toFixed(3)),
    avroBytesPerRecord: Math.round(avroBytes),
    jsonBytesPerRecord: Math.round(jsonBytes),
    sizeRatio: Number((avroBytes / jsonBytes).toFixed(2)),
  };
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    process.stdout.write(
      [
        `avro-serde: encode + decode of one change event (${result.event}), one thread, median of ${ROUNDS} × ${SECONDS} s`,
        `  Avro (AvroSerde, wire format): ${result.avroRecordsPerSecond.toLocaleString('en')} records/s, ${result.avroBytesPerRecord} bytes/record`,
        `  JSON (stringify/parse, UTF-8): ${result.jsonRecordsPerSecond.toLocaleString('en')} records/s, ${result.jsonBytesPerRecord} bytes/record`,
        `  Avro/JSON: ${result.avroToJsonRatio}× the throughput, ${result.sizeRatio}× the size   (${process.version}, sink ${sink % 10})`,
        '',
      ].join('\n'),
    );
  }
} finally {
  await fetch(`${url}/subjects/${encodeURIComponent(SUBJECT)}`, { method: 'DELETE' });
  await fetch(`${url}/subjects/${encodeURIComponent(SUBJECT)}?permanent=true`, { method: 'DELETE' });
}

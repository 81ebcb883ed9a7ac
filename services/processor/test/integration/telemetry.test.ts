/**
 * Telemetry of the processor and the sink, each a child process as deployed, with their own
 * telemetry ports: the processor, started before its input topic exists, answers /readyz with
 * 503 naming the topic it waits for, and starts once the topic is there; CDC records carrying a
 * source transaction's trace context flow through the processor (an aggregate) and into the
 * embedded ClickHouse; both services answer /readyz with 200, their /metrics count the records
 * in and out per topic, the processor's transactions and the sink's end-to-end latency, and the
 * trace of the source transaction reaches the processor's output records.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AvroSerde, envelopeSchema, keySchema, pgKeyFromRow, pgRowFromText } from '@cdc/avro';
import { postgresChangeId } from '@cdc/core';
import { readTopic } from '@cdc/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { endpoints, localKafka, localRegistry, runId, shopRelations, waitFor } from '../helpers.ts';

const run = runId();
const kafka = localKafka(`it-telemetry-${run}`);
const schema = `tel_${run.replace(/[^a-z0-9]/g, '')}`;
const input = `tel-${run}.cdc.${schema}.orders`;
const output = `tel-${run}.orders-by-status`;
const applicationId = `tel-${run}`;
const sinkGroup = `tel-sink-${run}`;
const deadLetters = `tel-${run}.sink.dlq`;
const dir = mkdtempSync(join(tmpdir(), 'cdc-telemetry-'));
const services = join(import.meta.dirname, '..', '..', '..');
const children: ChildProcess[] = [];
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

/** A service from its sources (as `node dist/main.js` runs it) with its own pipeline file; resolves to its telemetry URL. */
function startService(service: string, pipeline: object): Promise<{ url: string; logs: string[] }> {
  const file = join(dir, `${service}.json`);
  writeFileSync(file, JSON.stringify(pipeline, null, 2));
  const child = spawn(process.execPath, [join(services, service, 'src', 'main.ts'), '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CDC_LOG_LEVEL: 'info' },
  });
  children.push(child);
  const logs: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${service} did not serve telemetry in 60 s`)), 60_000);
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) {
          if (!line) continue;
          logs.push(line);
          if (line.includes('serving /metrics')) {
            clearTimeout(timer);
            resolve({ url: (JSON.parse(line) as { url: string }).url, logs });
          }
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${service} exited with ${code}: ${logs.slice(-5).join('\n')}`));
    });
  });
}

async function metrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** The value of the first sample of `name` whose labels contain every one of `labels`. */
function sample(text: string, name: string, ...labels: string[]): number | undefined {
  const line = text
    .split('\n')
    .find(
      (l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((x) => l.includes(x)),
    );
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

afterAll(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  const admin = kafka.admin();
  await admin.connect();
  const existing = await admin.listTopics();
  await admin.deleteTopics({
    topics: existing.filter((t) => t.startsWith(`tel-${run}`) || t.startsWith(`${applicationId}-`)),
  });
  await admin.deleteGroups([applicationId, sinkGroup]).catch(() => undefined);
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

describe('telemetry of the processor and the sink', () => {
  it('serve readiness and metrics as records flow, and carry the source trace on', async () => {
    const base = {
      kafka: { brokers: endpoints.kafka.brokers, clientId: `it-telemetry-${run}` },
      registry: { url: endpoints.registry.url },
      telemetry: { http: { port: 0 } },
    };
    // The processor exports spans (to a collector that is down: the exports fail, the spans are
    // made): it opens a span per record, whose context its outputs carry. Without a collector it
    // makes none and passes the source's context on unchanged.
    const collector = createServer();
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const { port: collectorPort } = collector.address() as AddressInfo;
    await new Promise<void>((r) => collector.close(() => r()));
    const processor = await startService('processor', {
      ...base,
      telemetry: { http: { port: 0 }, otlp: { endpoint: `http://127.0.0.1:${collectorPort}` } },
      processing: {
        applicationId,
        stateDir: join(dir, 'state'),
        http: { enabled: false },
        aggregate: [
          {
            name: 'by_status',
            from: input,
            topic: output,
            groupBy: ['status'],
            aggregations: [{ name: 'orders', fn: 'count' }],
          },
        ],
      },
    });
    // Started before its input topic exists (services start in any order; a capture creates a
    // table's topic once it captures it): not ready, and it says which topic it waits for.
    const waiting = await waitFor(
      async () => {
        const r = await fetch(`${processor.url}/readyz`);
        const body = await r.text();
        return r.status === 503 && body.includes(`waiting for input topics: ${input}`) ? body : undefined;
      },
      30_000,
      'the processor to say it waits for its input topic',
    );
    expect(waiting).toContain(input);
    expect(processor.logs.some((l) => l.includes(`input topic ${input} does not exist yet`))).toBe(true);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: input, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();

    const sink = await startService('sink-clickhouse', {
      ...base,
      clickhouse: {
        embedded: { path: join(dir, 'chdb'), http: { enabled: false } },
        database: 'tel',
        sink: {
          topics: [input, output],
          groupId: sinkGroup,
          deadLetterTopic: deadLetters,
          topicRefreshMs: 1_000,
          batch: { maxRows: 500, maxWaitMs: 200 },
        },
      },
    });
    expect((await fetch(`${processor.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${sink.url}/healthz`)).status).toBe(200);

    // 20 orders of one source transaction (as capture-postgres writes them), its trace context in every record's headers.
    const rs = shopRelations(schema).orders;
    const serde = new AvroSerde({ registry: localRegistry() });
    const commitLsn = '0/1A2B3C0';
    const messages = [];
    for (let i = 1; i <= 20; i++) {
      const row = pgRowFromText(rs, [
        String(i),
        '1',
        '1',
        '9.90',
        '2026-01-01 10:00:00+00',
        i % 2 === 0 ? 'paid' : 'new',
      ]);
      const envelope = {
        before: null,
        after: row,
        source: {
          connector: 'postgresql',
          name: 'tel',
          db: 'cdc',
          schema,
          table: 'orders',
          lsn: commitLsn,
          commitLsn,
          txId: null,
          tsMs: BigInt(Date.now()),
          snapshot: 'false',
        },
        op: 'c',
        tsMs: BigInt(Date.now()),
        changeId: postgresChangeId({ commitLsn, index: i - 1 }),
      };
      messages.push({
        key: await serde.serialize(`${input}-key`, keySchema(input, rs.keyFields), pgKeyFromRow(rs, row)),
        value: await serde.serialize(`${input}-value`, envelopeSchema(input, rs.row, 'postgresql'), envelope),
        headers: { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` },
      });
    }
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic: input, acks: -1, messages });
    await producer.disconnect();

    let p = '';
    let s = '';
    await waitFor(
      async () => {
        [p, s] = await Promise.all([metrics(processor.url), metrics(sink.url)]);
        const sinkOut = sample(s, 'cdc_records_out_total', `topic="${output}"`) ?? 0;
        // A batch's size is recorded once its flush has ended (inserts and offsets), a moment
        // after its records count as out.
        const batches = sample(s, 'cdc_batch_size_count', 'stage="sink"') ?? 0;
        return sample(s, 'cdc_records_out_total', `topic="${input}"`) === 20 && sinkOut > 0 && batches > 0
          ? true
          : undefined;
      },
      90_000,
      'the sink to insert the CDC records and the aggregate',
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}\nprocessor:\n${p}\nsink:\n${s}\nsink logs:\n${sink.logs.slice(-5).join('\n')}`,
      );
    });

    expect(sample(p, 'cdc_records_in_total', 'stage="process"', `topic="${input}"`)).toBe(20);
    expect(sample(p, 'cdc_records_out_total', 'stage="process"', `topic="${output}"`)).toBeGreaterThan(0);
    expect(sample(p, 'cdc_transactions_total', 'stage="process"', 'outcome="commit"')).toBeGreaterThan(0);
    expect(sample(p, 'cdc_service_info', 'service_name="processor"')).toBe(1);
    expect(sample(s, 'cdc_records_in_total', 'stage="sink"', `topic="${input}"`)).toBe(20);
    expect(sample(s, 'cdc_end_to_end_latency_seconds_count', `topic="${input}"`)).toBe(20);
    expect(sample(s, 'cdc_batch_size_count', 'stage="sink"')).toBeGreaterThan(0);
    // Aggregate rows are not source changes: no end-to-end latency for them.
    expect(sample(s, 'cdc_end_to_end_latency_seconds_count', `topic="${output}"`)).toBeUndefined();
    await waitFor(
      async () =>
        (sample(await metrics(sink.url), 'cdc_consumer_lag', `group="${sinkGroup}"`) ?? -1) >= 0 || undefined,
      30_000,
      'the sink group lag',
    );

    for (const url of [processor.url, sink.url]) {
      await waitFor(
        async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined),
        30_000,
        `${url}/readyz`,
      );
    }

    // The processor continued the source transaction's trace in its output records.
    const out = await readTopic(kafka, output);
    const traceparent = String(out[0]?.headers?.traceparent ?? '');
    expect(traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    expect(traceparent).not.toContain('00f067aa0ba902b7');
  }, 180_000);
});

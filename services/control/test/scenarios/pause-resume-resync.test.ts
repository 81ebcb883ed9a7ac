/**
 * pause-resume-resync: the control API steers a running PostgreSQL capture through the Kafka
 * signal topic, end to end (API → signal topic → the capture writes the command into the WAL →
 * the streamer holds or releases the table at that point of the stream):
 *
 * - after a pause, nothing of the table reaches its topic (inserts, updates, deletes, across a
 *   restart of the capture), while another table keeps flowing;
 * - after resume, every held change arrives exactly once, in order: replaying the topic gives the table;
 * - a resync reads the whole table again (snapshot records for every row);
 * - without a token → 401, a viewer's action → 403, both audited; actions audited with who and
 *   the outcome; the OpenAPI document is served; no token appears in any log line.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { AvroSerde, RegistryClient } from '@cdc/avro';
import { heldTopic } from '@cdc/capture';
import { systemClock } from '@cdc/core';
import { PipelineSchema, type PostgresSource } from '@cdc/pipeline';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresCapture } from '../../../capture-postgres/src/capture.ts';
import {
  cleanup,
  connectPg,
  consume,
  endpoints,
  kafkaClient,
  recordingLogger,
  scenario,
  uniqueName,
  waitFor,
  waitStreaming,
} from '../../../capture-postgres/test/scenarios/harness.ts';
import { tokenHash } from '../../src/tokens.ts';
import { startControl } from './control-server.ts';

const ROOT = resolve(import.meta.dirname, '../../../..');
const execFileAsync = promisify(execFile);
const s = scenario('ctl18');
const paused = `${s.name}_p`.toLowerCase();
const other = `${s.name}_o`.toLowerCase();
const signalTopic = `${s.name}.signals`;
const auditTopic = `${s.name}.audit`;
const VIEWER = `viewer-${uniqueName('tok')}`;
const OPERATOR = `operator-${uniqueName('tok')}`;

afterAll(async () => {
  await cleanup(
    s,
    [paused, other],
    [s.topicOf(paused), s.topicOf(other), heldTopic(s.prefix), signalTopic, auditTopic],
  );
});

function startCapture(source: PostgresSource, logger: ReturnType<typeof recordingLogger>['logger']) {
  const kafka = kafkaClient(logger);
  const admin = kafka.admin();
  const serde = new AvroSerde({ registry: new RegistryClient({ url: endpoints.registry.url }) });
  const stop = new AbortController();
  const capture = new PostgresCapture({
    source,
    kafka,
    admin,
    serde,
    logger,
    clock: systemClock,
    signalTopic,
  });
  const running = admin.connect().then(() => capture.run(stop.signal));
  return {
    async stop() {
      stop.abort();
      await running.catch(() => undefined);
      await admin.disconnect();
    },
  };
}

describe('pause-resume-resync through the control API', () => {
  it('holds a paused table, releases it whole on resume, resyncs it, and audits who did what', async () => {
    const capLog = recordingLogger();
    const ctlLog = recordingLogger();
    const db = await connectPg();
    await db.query(`CREATE TABLE ${paused} (id int8 PRIMARY KEY, v int NOT NULL)`);
    await db.query(`CREATE TABLE ${other} (id int8 PRIMARY KEY, v int NOT NULL)`);
    await db.query(`INSERT INTO ${paused} SELECT g, 0 FROM generate_series(1, 100) g`);
    await db.query(`INSERT INTO ${other} SELECT g, 0 FROM generate_series(1, 10) g`);
    const source = s.source({ include: [paused, other] });
    const pipeline = PipelineSchema.parse({
      kafka: { brokers: endpoints.kafka.brokers },
      registry: { url: endpoints.registry.url },
      sources: { postgres: [source] },
      control: {
        port: 0,
        signalTopic,
        auditTopic,
        tokens: [
          { name: 'vera', role: 'viewer', sha256: tokenHash(VIEWER) },
          { name: 'otto', role: 'operator', sha256: tokenHash(OPERATOR) },
        ],
      },
    });
    const server = await startControl({
      pipeline,
      kafka: kafkaClient(ctlLog.logger),
      serde: new AvroSerde({ registry: new RegistryClient({ url: endpoints.registry.url }) }),
      logger: ctlLog.logger,
      services: ['capture-postgres'],
      stateDirPrefix: 'ctl18-',
    });
    const { url } = server;
    const call = async (method: string, path: string, token?: string, body?: unknown) => {
      const r = await fetch(new URL(path, url), {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const stateOf = async (table: string) => {
      const r = await call('GET', '/api/tables', VIEWER);
      return (r.body as unknown as { table: string; state: string }[]).find(
        (t) => t.table === `public.${table}`,
      )?.state;
    };
    let capture = startCapture(source, capLog.logger);
    try {
      await waitStreaming(s);
      await consume([s.topicOf(paused)], { expected: 100, timeoutMs: 60_000, settleMs: 0 });

      // Refused requests: 401 without a token or with an unknown one, 403 for a viewer's action.
      expect((await call('POST', `/api/tables/${s.name}/${paused}/pause`)).status).toBe(401);
      expect((await call('POST', `/api/tables/${s.name}/${paused}/pause`, 'not-a-token')).status).toBe(401);
      const denied = await call('POST', `/api/tables/${s.name}/${paused}/pause`, VIEWER);
      expect(denied.status).toBe(403);
      expect(String(denied.body.error)).toMatch(/needs role operator/);
      expect((await call('GET', '/api/tables', VIEWER)).status).toBe(200);
      const doc = await call('GET', '/api/openapi.json');
      expect(doc.status).toBe(200);
      expect(Object.keys(doc.body.paths as object)).toContain('/api/tables/{source}/{table}/pause');
      expect((await call('POST', `/api/tables/${s.name}/nope/pause`, OPERATOR)).status).toBe(404);

      // Pause: from the command's point in the WAL on, nothing of the table reaches its topic.
      expect((await call('POST', `/api/tables/${s.name}/${paused}/pause`, OPERATOR)).status).toBe(200);
      await waitFor('table paused', 60_000, async () => (await stateOf(paused)) === 'paused');
      await db.query(`INSERT INTO ${paused} SELECT g, 1 FROM generate_series(101, 150) g`);
      await db.query(`UPDATE ${paused} SET v = v + 10 WHERE id <= 10`);
      await db.query(`DELETE FROM ${paused} WHERE id BETWEEN 11 AND 15`);
      await db.query(`INSERT INTO ${other} SELECT g, 1 FROM generate_series(11, 20) g`);
      // The other table flows; then the paused one still has only its 100 snapshot records.
      await consume([s.topicOf(other)], { expected: 20, timeoutMs: 60_000, settleMs: 0 });
      // A restart while paused: the held changes are kept (they were committed with the position).
      await capture.stop();
      capture = startCapture(source, capLog.logger);
      await waitStreaming(s);
      await db.query(`INSERT INTO ${paused} SELECT g, 2 FROM generate_series(151, 160) g`);
      await db.query(`INSERT INTO ${other} SELECT g, 2 FROM generate_series(21, 25) g`);
      await consume([s.topicOf(other)], { expected: 25, timeoutMs: 60_000, settleMs: 0 });
      const during = await consume([s.topicOf(paused)], { expected: 101, timeoutMs: 3_000, settleMs: 0 });
      expect(during.length).toBe(100);
      expect(await stateOf(paused)).toBe('paused');

      // Resume, from the CLI (`cdc table resume`, which goes through the same API): every held
      // change, once, in order; the topic replays to the table.
      // (Asynchronously: the API it calls is served by this process.)
      const cli = await execFileAsync(
        process.execPath,
        [resolve(ROOT, 'services/cli/dist/main.js'), 'table', 'resume', s.name, `public.${paused}`],
        { encoding: 'utf8', env: { ...process.env, CDC_CONTROL_URL: url, CDC_CONTROL_TOKEN: OPERATOR } },
      );
      expect(cli.stdout).toMatch(/resume of .* sent \(signal /);
      expect(cli.stdout + cli.stderr).not.toContain(OPERATOR);
      const expected = 100 + 50 + 10 + 5 + 10;
      const after = await consume([s.topicOf(paused)], { expected, timeoutMs: 60_000, settleMs: 2_000 });
      expect(after.length).toBe(expected);
      const ids = after.map((r) => r.value.changeId);
      expect(new Set(ids).size).toBe(ids.length);
      const replayed = new Map<string, number>();
      for (const r of after.sort(
        (a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
      )) {
        const id = String(r.key?.id);
        if (r.value.op === 'd') replayed.delete(id);
        else replayed.set(id, r.value.after?.v as number);
      }
      const { rows } = await db.query<{ id: string; v: number }>(`SELECT id::text, v FROM ${paused}`);
      expect(replayed.size).toBe(rows.length);
      for (const row of rows) expect(replayed.get(row.id)).toBe(row.v);
      await waitFor('table streaming again', 30_000, async () => (await stateOf(paused)) !== 'paused');

      // Resync: the incremental snapshot reads every row of the table again.
      expect((await call('POST', `/api/tables/${s.name}/${paused}/resync`, OPERATOR, {})).status).toBe(200);
      const resynced = await consume([s.topicOf(paused)], {
        expected: expected + rows.length,
        timeoutMs: 90_000,
        settleMs: 1_000,
      });
      const reread = resynced.filter((r) => r.value.op === 'r').length;
      expect(reread).toBe(100 + rows.length);

      // The audit log: who did what, refused requests included.
      const entries = await readAudit(auditTopic, 7);
      const summary = entries.map((e) => `${e.actor} ${e.action} ${e.outcome} ${e.status}`);
      expect(summary).toEqual([
        'anonymous pause unauthenticated 401',
        'anonymous pause unauthenticated 401',
        'vera pause denied 403',
        'otto pause failed 404',
        'otto pause ok 200',
        'otto resume ok 200',
        'otto resync ok 200',
      ]);
      expect(entries[4]?.target).toBe(`${s.name}/public.${paused}`);

      // No token in any log line (the capture's or the control service's).
      const all = JSON.stringify([...capLog.lines, ...ctlLog.lines]);
      expect(all).not.toContain(VIEWER);
      expect(all).not.toContain(OPERATOR);
      expect(all).not.toContain('not-a-token');
    } finally {
      await capture.stop();
      await server.close();
      await db.end();
    }
  });
});

async function readAudit(topic: string, n: number): Promise<Record<string, unknown>[]> {
  const kafka = kafkaClient();
  const serde = new AvroSerde({ registry: new RegistryClient({ url: endpoints.registry.url }) });
  const consumer = kafka.consumer({ groupId: uniqueName('ctl18-audit-reader') });
  const out: Record<string, unknown>[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        out.push((await serde.deserialize(message.value)) as Record<string, unknown>);
      },
    });
    await waitFor(`${n} audit records`, 30_000, () => out.length >= n);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/**
 * Hostile input: large values and keyless tables, through the whole pipeline (`cdc up`) into
 * ClickHouse, one pipeline run for every case. The PostgreSQL source has a small record limit
 * (`maxRecordBytes: 8 MiB`) so that one case can go over it; MongoDB keeps the default (64 MiB).
 *
 * Large values: one INSERT of twenty 300 KB rows into a table whose topic already existed with
 * the broker's 1 MB limit (raised by the capture); a 5 MB value, then an update that leaves it
 * unchanged (TOAST); a 10 MB value over the limit, streamed and read by the snapshot
 * (dead-lettered naming table, key, size and limit, the table's other rows still arrive); MongoDB
 * documents of 300 KB and one near 16 MB; the dead-letter topics' limits.
 *
 * Keyless tables (append-only logs in ClickHouse): DEFAULT and NOTHING identity (snapshot and
 * inserts; PostgreSQL refuses their updates), FULL (insert, update, delete, identical rows), and
 * two tables turned keyed while their changes wait in the slot (the pipeline is down): ADD
 * PRIMARY KEY, REPLICA IDENTITY FULL.
 */
import { createHash } from 'node:crypto';
import { createJsonLogger } from '@cdc/core';
import { createKafka, KafkaConfigSchema } from '@cdc/kafka';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../../infra/local/src/endpoints.ts';
import { type Hostile, openHostile } from './harness.ts';

const { ConfigResourceTypes } = kafkajs;
const LIMIT = 8 * 1024 * 1024;
const FOREIGN_BYTES = 5 * 1024 * 1024;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** PostgreSQL text of `n` md5 blocks (32 characters each) that differ per `seed`: incompressible-ish. */
const blocks = (n: number, seed: string) =>
  `(SELECT string_agg(md5(${seed} || '-' || g::text), '' ORDER BY g) FROM generate_series(1, ${n}) g)`;

let h: Hostile;
const t = (table: string) => `${h.database}.${h.pgTable(table)}`;
type LogRow = { a: number; b: string; _op: string };
/** Every change of a keyless table's log, in source order (the history keeps deletes too). */
const logOf = (table: string, cols = 'a, b') =>
  `SELECT ${cols}, _op FROM ${t(table)}_history FINAL ORDER BY _version`;

async function topicConfig(topic: string, name: string): Promise<string | undefined> {
  const ep = localEndpoints();
  const admin = createKafka(
    KafkaConfigSchema.parse({ brokers: ep.kafka.brokers, clientId: 'sizes-test' }),
    createJsonLogger({ level: 'error' }),
  ).admin();
  await admin.connect();
  try {
    const d = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [name] }],
    });
    return d.resources[0]?.configEntries.find((e) => e.configName === name)?.configValue;
  } finally {
    await admin.disconnect();
  }
}

describe('hostile input: large values and keyless tables', () => {
  const bigDoc = 'y'.repeat(15 * 1024 * 1024 - 4096);
  const docs300 = Array.from({ length: 8 }, (_, i) => ({ _id: 100 + i, s: `${i}`.repeat(300_000) }));

  beforeAll(async () => {
    h = await openHostile('sizes', { postgresExtra: `maxRecordBytes: ${LIMIT}` });
    await h.sql('CREATE TABLE big_rows (id int PRIMARY KEY, v text)');
    await h.sql('CREATE TABLE big_value (id int PRIMARY KEY, n int, v text)');
    await h.sql('CREATE TABLE too_big (id int PRIMARY KEY, v text)');
    await h.sql('CREATE TABLE too_big_snap (id int PRIMARY KEY, v text)');
    await h.sql(`INSERT INTO too_big_snap VALUES (1, ${blocks(327_680, "'snap'")}), (2, 'small')`);
    for (const k of ['kl_default', 'kl_nothing', 'kl_full', 'kl_to_full']) {
      await h.sql(`CREATE TABLE ${k} (a int, b text)`);
    }
    await h.sql('CREATE TABLE kl_to_pk (id int NOT NULL, v text)');
    await h.sql('ALTER TABLE kl_nothing REPLICA IDENTITY NOTHING');
    await h.sql('ALTER TABLE kl_full REPLICA IDENTITY FULL');
    for (const k of ['kl_default', 'kl_nothing', 'kl_full'])
      await h.sql(`INSERT INTO ${k} VALUES (0, 'snap')`);
    // A topic made earlier with the broker's default record limit (1 MB): the capture raises it.
    const ep = localEndpoints();
    const admin = createKafka(
      KafkaConfigSchema.parse({ brokers: ep.kafka.brokers, clientId: h.id }),
      createJsonLogger({ level: 'error' }),
    ).admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        {
          topic: h.pgTopic('big_rows'),
          numPartitions: 3,
          configEntries: [{ name: 'max.message.bytes', value: '1048588' }],
        },
      ],
    });
    // Three 5 MB records the sink cannot decode (not Avro), in one topic it reads: 15 MB of dead
    // letters in one batch, more than one produce request of the old 1 MB dead-letter topic.
    await admin.createTopics({
      topics: [
        { topic: `${h.id}.foreign`, configEntries: [{ name: 'max.message.bytes', value: '8388608' }] },
      ],
    });
    await admin.disconnect();
    const producer = createKafka(
      KafkaConfigSchema.parse({ brokers: ep.kafka.brokers, clientId: h.id }),
      createJsonLogger({ level: 'error' }),
    ).producer();
    await producer.connect();
    for (const n of [1, 2, 3])
      await producer.send({
        topic: `${h.id}.foreign`,
        messages: [{ key: `k${n}`, value: Buffer.alloc(FOREIGN_BYTES, 'x') }],
      });
    await producer.disconnect();
    h.up();
    // Everything at once, while the pipeline runs.
    await h.sql(`INSERT INTO big_rows SELECT i, ${blocks(9375, 'i::text')} FROM generate_series(1, 20) i`);
    await h.sql(`INSERT INTO big_value VALUES (1, 1, ${blocks(163_840, "'five'")})`);
    await h.sql(`INSERT INTO too_big VALUES (1, ${blocks(327_680, "'ten'")})`);
    await h.sql(`INSERT INTO too_big VALUES (2, 'small')`);
    await h.mongo.collection('docs300').insertMany(docs300 as never[]);
    await h.mongo.collection('bigdoc').insertOne({ _id: 1, s: bigDoc } as never);
    await h.sql(`INSERT INTO kl_default VALUES (1, 'one'), (2, 'two')`);
    await h.sql(`INSERT INTO kl_nothing VALUES (1, 'one')`);
    await h.sql(`INSERT INTO kl_full VALUES (1, 'one'), (2, 'dup'), (2, 'dup')`);
    await h.sql(`UPDATE kl_full SET b = 'uno' WHERE a = 1`);
    await h.sql('DELETE FROM kl_full WHERE a = 1');
    await h.sql(`INSERT INTO kl_to_pk VALUES (1, 'a')`);
    await h.sql(`INSERT INTO kl_to_full VALUES (1, 'x')`);
  }, 240_000);

  afterAll(async () => {
    await h?.close();
  }, 120_000);

  it('one INSERT of twenty 300 KB rows arrives exactly', async () => {
    const want = await h.sql<{ id: number; m: string }>('SELECT id, md5(v) AS m FROM big_rows ORDER BY id');
    const rows = await h.waitRows<{ id: number; m: string; l: string }>(
      `SELECT id, lower(hex(MD5(v))) AS m, toString(length(v)) AS l FROM ${t('big_rows')} FINAL ORDER BY id`,
      (r) => r.length === 20,
    );
    expect(rows.map((r) => ({ id: r.id, m: r.m }))).toEqual(want);
    expect(new Set(rows.map((r) => r.l))).toEqual(new Set(['300000']));
  });

  it('a table topic made earlier with the broker default 1 MB limit is raised to maxRecordBytes', async () => {
    expect(Number(await topicConfig(h.pgTopic('big_rows'), 'max.message.bytes'))).toBe(LIMIT + 64 * 1024);
    expect(Number(await topicConfig(h.pgTopic('big_rows'), 'segment.bytes'))).toBeGreaterThan(LIMIT);
  });

  it('the dead-letter topics hold what they receive (each capture: its limit; the sink: 64 MiB)', async () => {
    expect(Number(await topicConfig(`${h.id}_docs.dead-letter`, 'max.message.bytes'))).toBe(
      64 * 1024 * 1024 + 64 * 1024,
    );
    expect(Number(await topicConfig(`${h.id}.dead-letter`, 'max.message.bytes'))).toBe(LIMIT + 64 * 1024);
    expect(Number(await topicConfig(`${h.id}.sink-dlq`, 'max.message.bytes'))).toBe(
      64 * 1024 * 1024 + 64 * 1024,
    );
  });

  it('a 5 MB value arrives exactly', async () => {
    const [want] = await h.sql<{ m: string }>('SELECT md5(v) AS m FROM big_value');
    const rows = await h.waitRows<{ n: number; m: string; l: number }>(
      `SELECT n, lower(hex(MD5(v))) AS m, length(v) AS l FROM ${t('big_value')} FINAL`,
      (r) => r.length === 1,
    );
    expect(rows).toEqual([{ n: 1, m: want!.m, l: 5_242_880 }]);
  });

  it('an update that leaves the 5 MB value unchanged (TOAST) keeps it exactly', async () => {
    const [want] = await h.sql<{ m: string }>('SELECT md5(v) AS m FROM big_value');
    await h.sql('UPDATE big_value SET n = 2 WHERE id = 1');
    const rows = await h.waitRows<{ n: number; m: string; l: number }>(
      `SELECT n, lower(hex(MD5(v))) AS m, length(v) AS l FROM ${t('big_value')} FINAL`,
      (r) => r.length === 1 && r[0]!.n === 2,
    );
    expect(rows).toEqual([{ n: 2, m: want!.m, l: 5_242_880 }]);
  });

  it('a 10 MB value over maxRecordBytes is dead-lettered naming table, key, size and limit', async () => {
    await h.waitRows(`SELECT id FROM ${t('too_big')} FINAL`, (r) => r.length >= 1);
    const letters = (await h.deadLetters()).filter(
      (d) => d.headers['cdc.source.topic'] === h.pgTopic('too_big'),
    );
    expect(letters).toHaveLength(1);
    const reason = letters[0]!.headers['cdc.error.message']!;
    expect(reason).toMatch(
      /^public\.too_big: the change of key \{"id":1\} is (\d+) bytes as Avro, more than maxRecordBytes \(8388608\); it is dead-lettered/,
    );
    expect(Number(/is (\d+) bytes/.exec(reason)![1])).toBeGreaterThan(10_485_760);
    expect(letters[0]!.headers['cdc.error.code']).toBe('POISON_RECORD');
    // The dead letter names the value's size instead of carrying it.
    expect(letters[0]!.value).toContain('(omitted: 10485760 bytes)');
    expect(letters[0]!.size).toBeLessThan(10_000);
  });

  it("the over-limit row's table goes on: its next row arrives, the big one does not", async () => {
    const rows = await h.waitRows<{ id: number; v: string }>(
      `SELECT id, v FROM ${t('too_big')} FINAL ORDER BY id`,
      (r) => r.length >= 1,
    );
    expect(rows).toEqual([{ id: 2, v: 'small' }]);
  });

  it('a 10 MB row read by the initial snapshot is dead-lettered the same way; the rest of the table arrives', async () => {
    const rows = await h.waitRows<{ id: number; v: string }>(
      `SELECT id, v FROM ${t('too_big_snap')} FINAL ORDER BY id`,
      (r) => r.length >= 1,
    );
    expect(rows).toEqual([{ id: 2, v: 'small' }]);
    const letters = (await h.deadLetters()).filter(
      (d) => d.headers['cdc.source.topic'] === h.pgTopic('too_big_snap'),
    );
    expect(letters).toHaveLength(1);
    expect(letters[0]!.headers['cdc.error.message']).toMatch(
      /^public\.too_big_snap: the change of key \{"id":1\} is \d+ bytes as Avro, more than maxRecordBytes \(8388608\); it is dead-lettered and the table goes on/,
    );
    expect(letters[0]!.value).toContain('(omitted: 10485760 characters)');
  });

  it("the sink dead-letters three 5 MB records it cannot decode, whole, without crashing on its own batch's size", async () => {
    let letters: Awaited<ReturnType<Hostile['deadLetters']>> = [];
    for (let i = 0; i < 60 && letters.length < 3; i++) {
      letters = (await h.deadLetters()).filter((d) => d.headers['cdc.dlq.topic'] === `${h.id}.foreign`);
      if (letters.length < 3) await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(letters.map((d) => [d.key, d.size]).sort()).toEqual([
      ['k1', FOREIGN_BYTES],
      ['k2', FOREIGN_BYTES],
      ['k3', FOREIGN_BYTES],
    ]);
    expect(letters[0]!.headers['cdc.dlq.reason']).toMatch(/magic byte 120/);
    expect(h.log('sink-clickhouse')).not.toMatch(/MESSAGE_TOO_LARGE|too large/i);
  });

  it('MongoDB documents of 300 KB, inserted together, arrive exactly', async () => {
    const rows = await h.waitRows<{ m: string; l: number }>(
      `SELECT lower(hex(MD5(s))) AS m, length(s) AS l FROM ${h.database}.${h.id}_docs_${h.id}_docs300 FINAL ORDER BY m`,
      (r) => r.length === docs300.length,
    );
    expect(rows).toEqual(
      docs300.map((d) => ({ m: md5(d.s), l: 300_000 })).sort((a, b) => a.m.localeCompare(b.m)),
    );
  });

  it('a MongoDB document near 16 MB arrives exactly', async () => {
    const rows = await h.waitRows<{ l: number; m: string }>(
      `SELECT length(s) AS l, lower(hex(MD5(s))) AS m FROM ${h.database}.${h.id}_docs_${h.id}_bigdoc FINAL`,
      (r) => r.length === 1,
      120_000,
    );
    expect(rows).toEqual([{ l: bigDoc.length, m: md5(bigDoc) }]);
    expect(Number(await topicConfig(h.mongoTopic('bigdoc'), 'max.message.bytes'))).toBe(
      64 * 1024 * 1024 + 64 * 1024,
    );
  });

  it('a keyless table (replica identity DEFAULT) is an append-only log; PostgreSQL refuses its updates', async () => {
    const rows = await h.waitRows<LogRow>(logOf('kl_default'), (r) => r.length === 3);
    expect(rows).toEqual([
      { a: 0, b: 'snap', _op: 'r' },
      { a: 1, b: 'one', _op: 'c' },
      { a: 2, b: 'two', _op: 'c' },
    ]);
  });

  it('PostgreSQL itself refuses updates and deletes of a keyless table under DEFAULT or NOTHING, naming the fix', async () => {
    await expect(h.sql(`UPDATE kl_default SET b = 'x'`)).rejects.toThrow(
      /cannot update table "kl_default" because it does not have a replica identity and publishes updates/,
    );
    await expect(h.sql('DELETE FROM kl_nothing')).rejects.toThrow(
      /cannot delete from table "kl_nothing" because it does not have a replica identity and publishes deletes/,
    );
  });

  it('a keyless table with replica identity NOTHING is an append-only log', async () => {
    const rows = await h.waitRows<LogRow>(logOf('kl_nothing'), (r) => r.length === 2);
    expect(rows).toEqual([
      { a: 0, b: 'snap', _op: 'r' },
      { a: 1, b: 'one', _op: 'c' },
    ]);
  });

  it('a keyless table with REPLICA IDENTITY FULL logs inserts, updates (new row) and deletes (old row)', async () => {
    const rows = await h.waitRows<LogRow>(`${logOf('kl_full')}`, (r) => r.length === 6);
    expect(rows.filter((r) => r.a !== 2)).toEqual([
      { a: 0, b: 'snap', _op: 'r' },
      { a: 1, b: 'one', _op: 'c' },
      { a: 1, b: 'uno', _op: 'u' },
      { a: 1, b: 'uno', _op: 'd' },
    ]);
  });

  it('two identical rows of a keyless table are both kept', async () => {
    const rows = await h.waitRows<LogRow>(logOf('kl_full'), (r) => r.length === 6);
    expect(rows.filter((r) => r.a === 2)).toEqual([
      { a: 2, b: 'dup', _op: 'c' },
      { a: 2, b: 'dup', _op: 'c' },
    ]);
  });

  it('the bad and large cases left the ordinary table and collection flowing', async () => {
    await h.assertFlowing();
  });

  it('a keyless table given a primary key while its changes wait in the slot resumes without a stop (still a log)', async () => {
    await h.waitRows(logOf('kl_to_pk', 'id AS a, v AS b'), (r) => r.length === 1);
    await h.waitRows(logOf('kl_to_full'), (r) => r.length === 1);
    h.down();
    await h.sql(`INSERT INTO kl_to_pk VALUES (2, 'b')`);
    await h.sql('ALTER TABLE kl_to_pk ADD PRIMARY KEY (id)');
    await h.sql(`INSERT INTO kl_to_pk VALUES (3, 'c')`);
    await h.sql(`UPDATE kl_to_pk SET v = 'b2' WHERE id = 2`);
    await h.sql(`INSERT INTO kl_to_full VALUES (2, 'z')`);
    await h.sql('ALTER TABLE kl_to_full REPLICA IDENTITY FULL');
    await h.sql(`UPDATE kl_to_full SET b = 'y' WHERE a = 1`);
    await h.sql('DELETE FROM kl_to_full WHERE a = 2');
    h.up();
    const pk = await h.waitRows<LogRow>(logOf('kl_to_pk', 'id AS a, v AS b'), (r) => r.length === 4);
    expect(pk).toEqual([
      { a: 1, b: 'a', _op: 'c' },
      { a: 2, b: 'b', _op: 'c' },
      { a: 3, b: 'c', _op: 'c' },
      { a: 2, b: 'b2', _op: 'u' },
    ]);
    // The log stays a log: the sink says so instead of stopping the table.
    expect(h.log('sink-clickhouse')).toMatch(/was created as an append-only log/);
    expect(h.log('capture-postgres')).not.toMatch(/SOURCE_UNSUPPORTED/);
  }, 240_000);

  it('a keyless table set to REPLICA IDENTITY FULL while its changes wait in the slot resumes without a stop', async () => {
    const full = await h.waitRows<LogRow>(logOf('kl_to_full'), (r) => r.length === 4);
    expect(full).toEqual([
      { a: 1, b: 'x', _op: 'c' },
      { a: 2, b: 'z', _op: 'c' },
      { a: 1, b: 'y', _op: 'u' },
      { a: 2, b: 'z', _op: 'd' },
    ]);
  });

  it('after the restart the ordinary table and collection still flow', async () => {
    await h.assertFlowing();
  });
});

/**
 * readable-topics: a captured topic read the way the README's "Reading the topics" section shows
 * users, with the tools they already have — `kcat` (Debian's package) and Kafka's console
 * consumer with the registry's Avro deserializer (Apicurio's serde, Confluent wire format) — with
 * `isolation.level=read_committed`: they see the capture's committed records, decoded, and not
 * the records of an aborted transaction (what an interrupted snapshot leaves in a topic), which a
 * read_uncommitted reader does see.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaToolsClasspath, localTool } from '../../../../infra/local/src/endpoints.ts';
import { cleanup, connectPg, consume, endpoints, kafkaClient, runCapture, scenario } from './harness.ts';

const run = promisify(execFile);
const s = scenario('readable');
const table = `${s.name}_t`.toLowerCase();
const topic = s.topicOf(table);
const broker = endpoints.kafka.brokers[0]!;

afterAll(async () => {
  await cleanup(s, [table], [topic]);
});

async function kcat(args: string[]): Promise<Buffer> {
  const { stdout } = await run(localTool('kcat'), ['-C', '-b', broker, '-t', topic, '-e', '-q', ...args], {
    encoding: 'buffer',
    timeout: 60_000,
  });
  return stdout;
}

describe('readable topics', () => {
  it('kcat and the console consumer with the Avro deserializer read committed records only', async () => {
    const db = await connectPg();
    await db.query(`CREATE TABLE ${table} (id int8 PRIMARY KEY, note text)`);
    await db.query(`INSERT INTO ${table} VALUES (1, 'one'), (2, 'two'), (3, 'three')`);
    // The initial snapshot writes the three rows in one committed transaction.
    const capture = runCapture(s.source({ include: [table] }));
    try {
      await consume([topic], { expected: 3, timeoutMs: 60_000, settleMs: 500 });
    } finally {
      await capture.stop();
      await db.end();
    }

    // An aborted transaction in the same topic: two copies of the first record, never committed.
    const key = await kcat(['-o', '0', '-c', '1', '-f', '%k']);
    const value = await kcat(['-o', '0', '-c', '1', '-f', '%s']);
    expect(value[0]).toBe(0); // Confluent wire format: magic byte, then the schema id
    const producer = kafkaClient().producer({
      transactionalId: `${s.name}-aborted`,
      maxInFlightRequests: 1,
      idempotent: true,
    });
    await producer.connect();
    try {
      const tx = await producer.transaction();
      await tx.send({
        topic,
        messages: [
          { key, value },
          { key, value },
        ],
      });
      await tx.abort();
    } finally {
      await producer.disconnect();
    }

    // kcat: offsets of what a read_committed reader gets, and of what a read_uncommitted one gets.
    const committed = (await kcat(['-X', 'isolation.level=read_committed', '-f', '%o\n']))
      .toString()
      .trim()
      .split('\n');
    const uncommitted = (await kcat(['-X', 'isolation.level=read_uncommitted', '-f', '%o\n']))
      .toString()
      .trim()
      .split('\n');
    expect(committed).toHaveLength(3);
    expect(uncommitted).toHaveLength(5);

    // Kafka's console consumer, values decoded by the registry's Avro deserializer.
    const classpath = kafkaToolsClasspath();
    if (!classpath) throw new Error('the console consumer is not installed: run `npm run stack -- up`');
    const registryV2 = new URL('/apis/registry/v2', endpoints.registry.url).toString();
    const deserializer = (part: 'key' | 'value') => [
      '--formatter-property',
      `${part}.deserializer=io.apicurio.registry.serde.avro.AvroKafkaDeserializer`,
      '--formatter-property',
      `${part}.deserializer.apicurio.registry.url=${registryV2}`,
      '--formatter-property',
      `${part}.deserializer.apicurio.registry.as-confluent=true`,
      '--formatter-property',
      `${part}.deserializer.apicurio.registry.use-id=contentId`,
    ];
    const { stdout } = await run(
      'java',
      [
        '-cp',
        classpath,
        'org.apache.kafka.tools.consumer.ConsoleConsumer',
        '--bootstrap-server',
        broker,
        '--topic',
        topic,
        '--from-beginning',
        '--isolation-level',
        'read_committed',
        '--timeout-ms',
        '5000',
        '--formatter-property',
        'print.key=true',
        '--formatter-property',
        'key.separator=|',
        ...deserializer('key'),
        ...deserializer('value'),
      ],
      { timeout: 90_000 },
    );
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    const rows = lines.map((l) => {
      const [k, v] = [l.slice(0, l.indexOf('|')), l.slice(l.indexOf('|') + 1)];
      const envelope = JSON.parse(v) as { op: string; after: { id: number; note: string } };
      return { key: JSON.parse(k) as { id: number }, op: envelope.op, after: envelope.after };
    });
    expect(rows.sort((a, b) => a.key.id - b.key.id)).toEqual([
      { key: { id: 1 }, op: 'r', after: { id: 1, note: 'one' } },
      { key: { id: 2 }, op: 'r', after: { id: 2, note: 'two' } },
      { key: { id: 3 }, op: 'r', after: { id: 3, note: 'three' } },
    ]);
  });
});

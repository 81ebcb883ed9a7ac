/**
 * `cdc quarantine list|replay|discard [table]`: the rows a quality rule of the pipeline file
 * sent to a capture's quarantine topic (`<prefix>.quarantine`, compacted, one entry per table
 * and key, the latest wins).
 *
 * - `list`: the open entries (table, key, broken rules, reason).
 * - `replay <table>`: once the source rows are fixed, asks the PostgreSQL capture (a logical
 *   message in the source's WAL, so it is ordered with the data and survives restarts) to read
 *   those rows again and pass them through the rules: the rows that pass are written, those
 *   gone become deletes, those still broken are quarantined again; a table stopped by a rule
 *   flows again. The capture resolves the entries in the same Kafka transaction.
 * - `discard <table>`: drops the table's entries (tombstones) without writing anything.
 */
import { randomUUID } from 'node:crypto';
import { createJsonLogger } from '@cdc/core';
import { createIdempotentProducer, createKafka, type Kafka } from '@cdc/kafka';
import { type Pipeline, postgresClientConfig } from '@cdc/pipeline';
import pg from 'pg';

export interface QuarantineEntry {
  /** The capture (source name) whose topic holds it. */
  source: string;
  topic: string;
  /** The record key: `<table> <key JSON>`. */
  id: string;
  table: string;
  /** The row key as stable JSON. */
  key: string;
  rules: string[];
  reason: string;
}

/** Keys per replay message (a logical message stays small). */
const KEYS_PER_MESSAGE = 500;

function quarantineTopicOf(source: { name: string; topicPrefix?: string | undefined }): string {
  return `${source.topicPrefix ?? source.name}.quarantine`;
}

/** The open entries of every source's quarantine topic (of `table` only when given). */
export async function listQuarantine(pipeline: Pipeline, table?: string): Promise<QuarantineEntry[]> {
  const kafka = createKafka(pipeline.kafka, createJsonLogger({ level: 'error' }));
  const out: QuarantineEntry[] = [];
  for (const source of [...pipeline.sources.postgres, ...pipeline.sources.mongo]) {
    const topic = quarantineTopicOf(source);
    const latest = await readCompacted(kafka, topic);
    for (const [id, value] of latest) {
      if (value === null) continue;
      const v = JSON.parse(value) as {
        table: string;
        reason: string;
        violations: { rule: string }[];
      };
      if (table !== undefined && v.table !== table) continue;
      out.push({
        source: source.name,
        topic,
        id,
        table: v.table,
        key: id.slice(v.table.length + 1),
        rules: v.violations.map((x) => x.rule),
        reason: v.reason,
      });
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Asks the capture of `table` to re-read its quarantined rows; returns how many keys. */
export async function replayQuarantine(pipeline: Pipeline, table: string): Promise<number> {
  const entries = await listQuarantine(pipeline, table);
  const stopped = entries.length === 0 ? await stoppedSource(pipeline, table) : undefined;
  if (entries.length === 0 && !stopped) return 0;
  const sourceName = entries[0]?.source ?? stopped;
  const source = pipeline.sources.postgres.find((s) => s.name === sourceName);
  if (!source)
    throw new Error(
      `${table}: replay re-reads rows from the source and is implemented for PostgreSQL sources only; fix the documents and update them in MongoDB (the change is captured again), then \`cdc quarantine discard ${table}\``,
    );
  const client = new pg.Client(postgresClientConfig(source, 'replay'));
  await client.connect();
  try {
    const keys = entries.map((e) => e.key);
    // One message even with no keys: it resumes a table stopped by a rule.
    for (let i = 0; i === 0 || i < keys.length; i += KEYS_PER_MESSAGE) {
      await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [
        `cdc.replay.${source.name}`,
        JSON.stringify({ table, keys: keys.slice(i, i + KEYS_PER_MESSAGE) }),
      ]);
    }
  } finally {
    await client.end();
  }
  return entries.length;
}

/** A table with no open entries may still be stopped: the replay message resumes it (its capture is the one whose include list has it). */
async function stoppedSource(pipeline: Pipeline, table: string): Promise<string | undefined> {
  const bare = table.startsWith('public.') ? table.slice('public.'.length) : table;
  return pipeline.sources.postgres.find(
    (s) => s.tables[table] !== undefined || s.tables[bare] !== undefined || s.include.includes(table),
  )?.name;
}

/** Drops the table's entries; returns how many. */
export async function discardQuarantine(pipeline: Pipeline, table: string): Promise<number> {
  const entries = await listQuarantine(pipeline, table);
  if (entries.length === 0) return 0;
  const kafka = createKafka(pipeline.kafka, createJsonLogger({ level: 'error' }));
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    const byTopic = new Map<string, QuarantineEntry[]>();
    for (const e of entries) byTopic.set(e.topic, [...(byTopic.get(e.topic) ?? []), e]);
    for (const [topic, list] of byTopic)
      await producer.send({ topic, acks: -1, messages: list.map((e) => ({ key: e.id, value: null })) });
  } finally {
    await producer.disconnect();
  }
  return entries.length;
}

/** Latest value per key of a (compacted) topic, read_committed; empty when the topic does not exist. */
async function readCompacted(kafka: Kafka, topic: string): Promise<Map<string, string | null>> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, number>;
  try {
    if (!(await admin.listTopics()).includes(topic)) return new Map();
    ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.disconnect();
  }
  const out = new Map<string, string | null>();
  if ([...ends.values()].every((e) => e === 0)) return out;
  const next = new Map<number, number>();
  const consumer = kafka.consumer({ groupId: `cdc-quarantine-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        next.set(partition, Number(message.offset) + 1);
        const key = message.key?.toString('utf8');
        if (key !== undefined) out.set(key, message.value === null ? null : message.value.toString('utf8'));
      },
    });
    const deadline = Date.now() + 30_000;
    // A transaction marker takes an offset: done once every partition is within one of its end.
    const done = () => [...ends].every(([p, end]) => end === 0 || (next.get(p) ?? 0) >= end - 1);
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 200));
    return out;
  } finally {
    await consumer.disconnect();
  }
}

export function formatQuarantine(entries: readonly QuarantineEntry[]): string {
  if (entries.length === 0) return 'no quarantined rows\n';
  return `${entries
    .map((e) => `${e.table}  key ${e.key}  rules ${e.rules.join(', ') || '(table stopped)'}\n  ${e.reason}`)
    .join('\n')}\n${entries.length} quarantined row(s)\n`;
}

/**
 * The cleanup of a scenario named `id` (in `beforeAll`, for a run that died, and in `afterAll`):
 * its replication slot and PostgreSQL database, its MongoDB database, the Kafka topics whose
 * names start with `id` and its sink's consumer group (`<id>-sink`). Only what the scenario
 * made, so that tests running beside it on the shared stack keep theirs.
 */
import { createJsonLogger } from '@cdc/core';
import { createKafka, deleteTopicsIfExist, KafkaConfigSchema } from '@cdc/kafka';
import { localEndpoints } from '@cdc/local-stack';
import { MongoClient } from 'mongodb';
import { pgSuperuser, withClient } from './source-databases.ts';

export interface DropOptions {
  /** Drop MongoDB database `id` too (default: no). */
  mongo?: boolean;
  /**
   * The slot `id`: `drop` (default; fails while a capture still holds it), or
   * `drop-if-inactive` (a capture that outlived the test keeps it, and the database drop fails).
   */
  slot?: 'drop' | 'drop-if-inactive';
}

/** A Kafka client of the local stack for scenario `id` (client id `id`, errors logged only). */
export function scenarioKafka(id: string) {
  return createKafka(
    KafkaConfigSchema.parse({ brokers: localEndpoints().kafka.brokers, clientId: id }),
    createJsonLogger({ level: 'error' }),
  );
}

/** Drops everything scenario `id` made (see the file comment). */
export async function dropScenario(id: string, options: DropOptions = {}): Promise<void> {
  await withClient(pgSuperuser('postgres'), async (c) => {
    await c.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1${options.slot === 'drop-if-inactive' ? ' AND NOT active' : ''}`,
      [id],
    );
    await c.query(`DROP DATABASE IF EXISTS ${id} WITH (FORCE)`);
  });
  if (options.mongo) {
    const mongo = new MongoClient(localEndpoints().mongo.url);
    await mongo.connect();
    await mongo
      .db(id)
      .dropDatabase()
      .catch(() => undefined);
    await mongo.close();
  }
  const admin = scenarioKafka(id).admin();
  await admin.connect();
  try {
    await deleteTopicsIfExist(
      admin,
      (await admin.listTopics()).filter((t) => t.startsWith(id)),
    );
    await admin.deleteGroups([`${id}-sink`]).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A scenario's `afterAll`: stops the pipeline (`cdc down`, when it has one), drops what the
 * scenario made (errors ignored: a cleanup must not hide the test's own failure), and removes
 * its directory.
 */
export async function tearDownScenario(options: {
  id: string;
  files: { remove(): void };
  cdc?: (...args: string[]) => unknown;
  drop?: DropOptions;
}): Promise<void> {
  await options.cdc?.('down');
  await dropScenario(options.id, options.drop).catch(() => undefined);
  options.files.remove();
}

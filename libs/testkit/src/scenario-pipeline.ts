/**
 * A scenario's pipeline file: one PostgreSQL source (and optionally one MongoDB source) named
 * after the scenario's id, captured into the sink on the embedded ClickHouse engine with its
 * read endpoint on `httpPort`. Everything is named `<id>…`, so `dropScenario(id)` removes it.
 *
 *   writeFileSync(files.config, scenarioPipeline({ id, dir: files.dir, httpPort, database: 'nt',
 *     sinkTopics: `^${id}(_docs)?\\.`, mongo: true }));
 */
import { join } from 'node:path';
import { localEndpoints } from '@cdc/local-stack';

export interface ScenarioPipelineOptions {
  /** The source's name, database, slot, publication and topic prefix; the sink's group is `<id>-sink`. */
  id: string;
  /** The scenario's directory: the embedded engine lives in `<dir>/clickhouse`. */
  dir: string;
  /** The port of the embedded engine's read endpoint. */
  httpPort: number;
  /** The ClickHouse database of the replica. */
  database: string;
  /** The regex of `clickhouse.sink.topics` (the pipeline file has `/<sinkTopics>/`). */
  sinkTopics: string;
  /** YAML lines under the PostgreSQL source (indented by the helper); null: none. */
  postgres?: string;
  /** A MongoDB source `<id>_docs` on database `<id>`; a string adds its YAML lines. */
  mongo?: boolean | string;
  /** YAML lines under `clickhouse.sink`. */
  sink?: string;
  /** PostgreSQL source without `offsetsTopic` (a sink-only pipeline: another tool writes the topics). */
  noOffsetsTopic?: boolean;
}

const indent = (text: string | undefined, n: number) =>
  text
    ? `\n${text
        .trim()
        .split('\n')
        .map((l) => ' '.repeat(n) + l)
        .join('\n')}`
    : '';

/** The pipeline file's text (YAML). */
export function scenarioPipeline(o: ScenarioPipelineOptions): string {
  const ep = localEndpoints();
  const mongo =
    o.mongo === undefined || o.mongo === false
      ? ''
      : `
  mongo:
    - name: ${o.id}_docs
      uri: "${ep.mongo.url}"
      include: ["${o.id}"]
      offsetsTopic: ${o.id}.mongo-offsets${indent(typeof o.mongo === 'string' ? o.mongo : undefined, 6)}`;
  return `kafka:
  brokers: ["${ep.kafka.brokers[0]}"]
  clientId: ${o.id}
registry:
  url: "${ep.registry.url}"
sources:
  postgres:
    - name: ${o.id}
      connection: { host: 127.0.0.1, port: ${ep.postgres.port}, database: ${o.id}, user: cdc, password: cdc }
      publication: ${o.id}
      slot: ${o.id}${o.noOffsetsTopic ? '' : `\n      offsetsTopic: ${o.id}.offsets`}${indent(o.postgres, 6)}${mongo}
clickhouse:
  embedded:
    path: ${join(o.dir, 'clickhouse')}
    http: { port: ${o.httpPort} }
  database: ${o.database}
  sink:
    groupId: ${o.id}-sink
    topics: [${JSON.stringify(`/${o.sinkTopics}/`)}]
    deadLetterTopic: ${o.id}.sink-dlq
    topicRefreshMs: 1000
    batch: { maxWaitMs: 200 }${indent(o.sink, 4)}
`;
}

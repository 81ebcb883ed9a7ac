/**
 * Apache Kafka as one KRaft node (broker and controller in one JVM) from the broker's jars on
 * Maven Central, run with the machine's JDK. Clients connect to `127.0.0.1:<kafka port>`
 * (PLAINTEXT); the controller listens on its own port. Settings are the single-node ones
 * transactions and consumer groups need (replication factor 1, min ISR 1, no rebalance delay);
 * topics are created by clients through the admin API (no auto-creation).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { StackContext } from '../context.ts';
import { mavenLibs } from '../maven.ts';
import { HOST } from '../ports.ts';
import type { LocalServer } from '../server.ts';

/**
 * The broker release, pinned. kafkajs 2.2.4 does everything the product needs against it
 * (transactions, sendOffsets, read_committed, classic consumer groups, admin), despite the old
 * protocol versions Kafka 4.0 removed: kafkajs negotiates versions the broker still serves.
 * 4.4.0 is not usable from Maven Central: `kafka_2.13:4.4.0` depends on `kafka-tools-api:4.4.0`,
 * which is not published there. Check a newer release with the integration test before pinning it.
 */
export const KAFKA_VERSION = '4.3.1';
const LOG4J_VERSION = '2.25.5';
/** Fixed so that a re-format after `down --reset` yields the same cluster. */
const CLUSTER_ID = 'Y2RjLWxvY2FsLXN0YWNrMQ'; // base64url of 'cdc-local-stack1'
const NODE_ID = 1;

const HEAP = ['-Xms256m', '-Xmx768m'];
const JVM_OPTS = [
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:InitiatingHeapOccupancyPercent=35',
  '-XX:+ExplicitGCInvokesConcurrent',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
];

function paths(ctx: StackContext) {
  const base = ctx.serverDataDir('kafka');
  return {
    base,
    logDirs: resolve(base, 'log'),
    config: resolve(base, 'server.properties'),
    log4j: resolve(base, 'log4j2.properties'),
    versionFile: resolve(base, 'VERSION'),
  };
}

async function libs(ctx: StackContext): Promise<string> {
  return mavenLibs(ctx, `kafka-${KAFKA_VERSION}`, [
    { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version: KAFKA_VERSION },
    // The distribution's logging backend: SLF4J 1.x (what the broker's pom pulls) over log4j2.
    { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: LOG4J_VERSION },
    { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: LOG4J_VERSION },
  ]);
}

/** Written on every install and start, so that a port moved by its environment variable takes effect. */
function writeConfig(ctx: StackContext): void {
  const p = paths(ctx);
  const client = ctx.port('kafka');
  const controller = ctx.port('kafkaController');
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': NODE_ID,
    'controller.quorum.voters': `${NODE_ID}@${HOST}:${controller}`,
    listeners: `PLAINTEXT://${HOST}:${client},CONTROLLER://${HOST}:${controller}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${client}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': p.logDirs,
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'auto.create.topics.enable': false,
    'delete.topic.enable': true,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 10,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 1,
    'log.retention.hours': 168,
    'log.segment.bytes': 64 * 1024 * 1024,
    // One node is broker and controller: on a loaded machine its controller's events took up to
    // 31 s ("Exceptionally slow controller event writeNoOpRecord"). Fewer no-op records (each
    // one a write of the metadata log) give it less to fall behind on. The longer broker lease
    // is a precaution: a heartbeat that timed out in the controller's queue still renews the
    // lease ("controller event queue overloaded" is logged, the broker is not fenced).
    'broker.session.timeout.ms': 60_000,
    'metadata.max.idle.interval.ms': 5_000,
  };
  writeFileSync(
    p.config,
    `${Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );
  writeFileSync(
    p.log4j,
    [
      'status = warn',
      'appender.out.type = Console',
      'appender.out.name = STDOUT',
      'appender.out.layout.type = PatternLayout',
      'appender.out.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = WARN',
      'rootLogger.appenderRef.out.ref = STDOUT',
      // The start-up and shutdown milestones.
      'logger.raft.name = kafka.server.KafkaRaftServer',
      'logger.raft.level = INFO',
      'logger.broker.name = kafka.server.BrokerServer',
      'logger.broker.level = INFO',
      'logger.controller.name = kafka.server.ControllerServer',
      'logger.controller.level = INFO',
      '',
    ].join('\n'),
  );
}

function java(lib: string, log4j: string): string[] {
  return [...HEAP, ...JVM_OPTS, `-Dlog4j2.configurationFile=${log4j}`, '-cp', `${lib}/*`];
}

function admin(ctx: StackContext) {
  return new Kafka({
    clientId: 'cdc-local-stack',
    brokers: ctx.endpoints.kafka.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  }).admin();
}

export const kafka: LocalServer = {
  name: 'kafka',
  description: `Apache Kafka ${KAFKA_VERSION} (KRaft, single node)`,
  ports: ['kafka', 'kafkaController'],
  prerequisites: [
    {
      command: 'java',
      fix: 'install a JDK 17 or newer (apt-get install openjdk-17-jre-headless)',
      aptPackage: 'openjdk-17-jre-headless',
    },
    { command: 'mvn', fix: 'install Maven (apt-get install maven)', aptPackage: 'maven' },
  ],
  startTimeoutMs: 120_000,

  async install(ctx) {
    const p = paths(ctx);
    const lib = await libs(ctx);
    if (existsSync(p.versionFile)) {
      const formatted = readFileSync(p.versionFile, 'utf8').trim();
      if (formatted !== KAFKA_VERSION) {
        throw new Error(
          `kafka: the data under ${p.base} was formatted by Kafka ${formatted}, this stack runs ${KAFKA_VERSION}; ` +
            'wipe it with `npm run stack -- down --only kafka --reset`',
        );
      }
    }
    writeConfig(ctx);
    if (existsSync(resolve(p.logDirs, 'meta.properties'))) return;
    await ctx.run(
      'java',
      [
        ...java(lib, p.log4j),
        'kafka.tools.StorageTool',
        'format',
        '--config',
        p.config,
        '--cluster-id',
        CLUSTER_ID,
        '--ignore-formatted',
      ],
      { cwd: p.base, timeoutMs: 120_000 },
    );
    writeFileSync(p.versionFile, `${KAFKA_VERSION}\n`);
  },

  async start(ctx) {
    const p = paths(ctx);
    const lib = await libs(ctx);
    writeConfig(ctx);
    ctx.spawn('kafka', 'java', [...java(lib, p.log4j), 'kafka.Kafka', p.config], { cwd: p.base });
  },

  async health(ctx) {
    const a = admin(ctx);
    await a.connect();
    try {
      const cluster = await a.describeCluster();
      if (cluster.brokers.length === 0) throw new Error('the broker reports no brokers in its cluster');
      return {
        version: `Apache Kafka ${KAFKA_VERSION}`,
        connection: ctx.endpoints.kafka.brokers.join(','),
        detail: `KRaft, cluster ${cluster.clusterId}, controller ${cluster.controller}`,
      };
    } finally {
      await a.disconnect();
    }
  },
};

/**
 * mongo-java-server: a second, independent implementation of the MongoDB wire protocol, with
 * its oplog enabled so that it serves change streams. It is a library, so the stack runs it
 * through a one-file launcher (`mongo/MongoJavaServerLauncher.java`) compiled at install time
 * against the library's jars from Maven Central, into the cache.
 *
 * Backend: in memory. Every restart starts empty (data and oplog alike), which is what a test
 * server needs and keeps it small; SecantusDB (`mongo`) is the stack's persistent one.
 *
 * Its change streams are partial (see infra/local/test/integration/mongo.test.ts): collection
 * scope only, resume tokens are the oplog timestamp in hex, no `ns`, no `updateDescription`,
 * no pre-images, no `invalidate` after a drop, and an update's `documentKey` holds the update
 * operators instead of `{ _id }`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { StackContext } from '../context.ts';
import { mavenLibs } from '../maven.ts';
import { HOST } from '../ports.ts';
import type { LocalServer } from '../server.ts';
import { probeMongo } from './mongo/probe.ts';

/** The library release, pinned: the newest on Maven Central when this was written. */
export const MONGO_JAVA_SERVER_VERSION = '1.47.0';
/** The SLF4J binding, so the library's log lines reach the stack's log file. */
const SLF4J_VERSION = '2.0.17';
const LAUNCHER = 'MongoJavaServerLauncher';
const LAUNCHER_SOURCE = resolve(import.meta.dirname, 'mongo', `${LAUNCHER}.java`);

const JVM_OPTS = [
  '-Xms64m',
  '-Xmx512m',
  '-XX:+UseSerialGC',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
  '-Dorg.slf4j.simpleLogger.defaultLogLevel=info',
  '-Dorg.slf4j.simpleLogger.showDateTime=true',
  "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
  // One line per connection opened and closed otherwise; failed commands are still logged.
  '-Dorg.slf4j.simpleLogger.log.de.bwaldvogel.mongo.wire.MongoWireProtocolHandler=warn',
];

async function libs(ctx: StackContext): Promise<string> {
  return mavenLibs(ctx, `mongo-java-server-${MONGO_JAVA_SERVER_VERSION}`, [
    { groupId: 'de.bwaldvogel', artifactId: 'mongo-java-server', version: MONGO_JAVA_SERVER_VERSION },
    { groupId: 'org.slf4j', artifactId: 'slf4j-simple', version: SLF4J_VERSION },
  ]);
}

/** The compiled launcher's folder, named after the source and library version so that an edit recompiles. */
function classesDir(ctx: StackContext): string {
  const hash = createHash('sha256')
    .update(readFileSync(LAUNCHER_SOURCE))
    .update(MONGO_JAVA_SERVER_VERSION)
    .digest('hex')
    .slice(0, 12);
  return resolve(ctx.cacheDir, 'mongo-java', `launcher-${hash}`);
}

async function compileLauncher(ctx: StackContext, lib: string): Promise<void> {
  const out = classesDir(ctx);
  if (existsSync(resolve(out, `${LAUNCHER}.class`))) return;
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await ctx.run('javac', ['-d', tmp, '-cp', `${lib}/*`, LAUNCHER_SOURCE]);
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
}

export const mongoJava: LocalServer = {
  name: 'mongo-java',
  description: `mongo-java-server ${MONGO_JAVA_SERVER_VERSION} (in memory, oplog enabled)`,
  ports: ['mongoJava'],
  prerequisites: [
    {
      command: 'java',
      fix: 'install a JDK 17 or newer (apt-get install openjdk-17-jdk-headless)',
      aptPackage: 'openjdk-17-jdk-headless',
    },
    {
      command: 'javac',
      fix: 'install a JDK, not only a JRE: the launcher is compiled at install time (apt-get install openjdk-17-jdk-headless)',
      aptPackage: 'openjdk-17-jdk-headless',
    },
    { command: 'mvn', fix: 'install Maven (apt-get install maven)', aptPackage: 'maven' },
  ],
  startTimeoutMs: 60_000,

  async install(ctx) {
    await compileLauncher(ctx, await libs(ctx));
  },

  async start(ctx) {
    const lib = await libs(ctx);
    ctx.spawn('mongo-java', 'java', [
      ...JVM_OPTS,
      '-cp',
      `${classesDir(ctx)}:${lib}/*`,
      LAUNCHER,
      HOST,
      String(ctx.port('mongoJava')),
    ]);
  },

  async health(ctx) {
    const url = ctx.endpoints.mongoJava.url;
    const probe = await probeMongo(url, 'isMaster');
    return {
      version: `mongo-java-server ${MONGO_JAVA_SERVER_VERSION} (claims MongoDB ${probe.claimedVersion})`,
      connection: url,
      detail: `in memory, oplog on, change streams open, wire version ${probe.maxWireVersion}`,
    };
  },
};

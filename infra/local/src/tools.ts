/**
 * Command-line tools the tests drive, installed by `npm run stack -- up` next to the servers:
 *
 *   - `promtool` (Debian's `prometheus` package): `promtool check rules` / `test rules` over the
 *     alerting rules. Only the binary is taken out of the package (`apt-get download` and
 *     `dpkg-deb -x` into `.stack/tools/bin`): installing the package would also install and start
 *     a Prometheus server listening on every interface.
 *   - `kcat` (Debian's `kcat`): reads the topics the way the README shows users.
 *   - Java tools on one class path (KAFKA_TOOLS in endpoints.ts, from Maven Central): Kafka's
 *     console consumer with the registry's Avro deserializer (Apicurio's serde, Confluent wire
 *     format), `java -cp '<dir>/*' org.apache.kafka.tools.consumer.ConsoleConsumer`; and Kafka
 *     Connect standalone with Debezium's PostgreSQL connector and Apicurio's Avro converter,
 *     `org.apache.kafka.connect.cli.ConnectStandalone`.
 *
 * Tests find them with `localTool(name)` and `kafkaToolsClasspath()` (endpoints.ts).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { ensureAptPackages } from './apt.ts';
import type { StackContext } from './context.ts';
import { KAFKA_TOOLS } from './endpoints.ts';
import { mavenLibs } from './maven.ts';
import { KAFKA_VERSION } from './servers/kafka.ts';

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(`${d}/${command}`));
}

/** Takes `promtool` out of Debian's `prometheus` package into `.stack/tools/bin`, once. */
async function ensurePromtool(ctx: StackContext): Promise<void> {
  const bin = resolve(ctx.toolsDir, 'bin');
  if (existsSync(resolve(bin, 'promtool'))) return;
  const debs = resolve(ctx.cacheDir, 'deb');
  mkdirSync(debs, { recursive: true });
  const cached = () => readdirSync(debs).find((f) => /^prometheus_.*\.deb$/.test(f));
  if (!cached()) {
    ctx.log('apt-get download prometheus (for promtool)');
    try {
      await ctx.run('apt-get', ['download', '-qq', 'prometheus'], { cwd: debs });
    } catch (err) {
      // A fresh machine has no package lists yet.
      if (process.getuid?.() !== 0) {
        throw new Error(
          `promtool: ${(err as Error).message.split('\n')[0]}. Run \`sudo apt-get update\`, or install promtool on PATH (Debian: apt-get install prometheus), then rerun`,
        );
      }
      await ctx.run('apt-get', ['update', '-qq'], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
      await ctx.run('apt-get', ['download', '-qq', 'prometheus'], { cwd: debs });
    }
  }
  const deb = cached();
  if (!deb) throw new Error(`promtool: apt-get download prometheus left no .deb in ${debs}`);
  const tmp = mkdtempSync(resolve(ctx.toolsDir, 'prometheus-'));
  try {
    await ctx.run('dpkg-deb', ['-x', resolve(debs, deb), tmp]);
    mkdirSync(bin, { recursive: true });
    copyFileSync(resolve(tmp, 'usr/bin/promtool'), resolve(bin, 'promtool'));
    chmodSync(resolve(bin, 'promtool'), 0o755);
    ctx.log(`promtool: ${resolve(bin, 'promtool')} (from ${deb})`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Installs the tools the tests need. As root, kcat comes from apt; otherwise a missing kcat is
 * reported with its fix and the stack still starts (only the tests that read topics with it fail).
 */
export async function ensureTools(ctx: StackContext): Promise<void> {
  if (!onPath('kcat')) {
    if (process.getuid?.() === 0) await ensureAptPackages(ctx, ['kcat']);
    else
      ctx.log(
        'kcat is missing (tests read topics with it): sudo apt-get install -y --no-install-recommends kcat',
      );
  }
  if (!onPath('promtool')) await ensurePromtool(ctx);
  if (KAFKA_TOOLS.kafka !== KAFKA_VERSION)
    throw new Error(
      `KAFKA_TOOLS.kafka (${KAFKA_TOOLS.kafka}) must be the broker's version ${KAFKA_VERSION} (endpoints.ts)`,
    );
  if (!onPath('mvn') || !onPath('java')) {
    ctx.log('the Java tools of the tests need mvn and java (the kafka server installs them): skipped');
    return;
  }
  const k = KAFKA_TOOLS;
  await mavenLibs(ctx, k.name, [
    { groupId: 'org.apache.kafka', artifactId: 'kafka-tools', version: k.kafka },
    { groupId: 'io.apicurio', artifactId: 'apicurio-registry-serdes-avro-serde', version: k.apicurio },
    { groupId: 'io.apicurio', artifactId: 'apicurio-registry-utils-converter', version: k.apicurio },
    { groupId: 'io.debezium', artifactId: 'debezium-connector-postgres', version: k.debezium },
    // Nearest wins in Maven: pin what Debezium and the serde would otherwise pull older.
    { groupId: 'org.apache.kafka', artifactId: 'connect-runtime', version: k.kafka },
    { groupId: 'org.apache.kafka', artifactId: 'connect-api', version: k.kafka },
    { groupId: 'org.apache.kafka', artifactId: 'connect-json', version: k.kafka },
    { groupId: 'com.fasterxml.jackson.core', artifactId: 'jackson-core', version: k.jackson },
    { groupId: 'com.fasterxml.jackson.datatype', artifactId: 'jackson-datatype-jdk8', version: k.jackson },
    { groupId: 'org.slf4j', artifactId: 'slf4j-simple', version: k.slf4j },
  ]);
}

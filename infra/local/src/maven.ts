import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { StackContext } from './context.ts';

export interface MavenArtifact {
  groupId: string;
  artifactId: string;
  version: string;
  classifier?: string;
  type?: string;
}

/**
 * Resolves artifacts with their runtime dependencies from Maven Central into
 * `.stack/cache/maven/<name>/lib` (once), through a generated pom and
 * `mvn dependency:copy-dependencies`. The local Maven repository lives in the stack's cache so
 * a warm machine downloads nothing. Returns the folder of jars (for a `-cp <dir>/*` class path).
 */
export async function mavenLibs(
  ctx: StackContext,
  name: string,
  artifacts: readonly MavenArtifact[],
): Promise<string> {
  const dir = resolve(ctx.cacheDir, 'maven', name);
  const lib = resolve(dir, 'lib');
  const marker = resolve(dir, '.complete');
  if (existsSync(marker)) return lib;
  mkdirSync(dir, { recursive: true });
  const deps = artifacts
    .map(
      (a) => `    <dependency>
      <groupId>${a.groupId}</groupId>
      <artifactId>${a.artifactId}</artifactId>
      <version>${a.version}</version>${a.classifier ? `\n      <classifier>${a.classifier}</classifier>` : ''}${a.type ? `\n      <type>${a.type}</type>` : ''}
    </dependency>`,
    )
    .join('\n');
  writeFileSync(
    resolve(dir, 'pom.xml'),
    `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>cdc.local-stack</groupId>
  <artifactId>${name}</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
${deps}
  </dependencies>
</project>
`,
  );
  ctx.log(`resolving ${name} from Maven Central (first run only)`);
  await ctx.run(
    'mvn',
    [
      '-B',
      '-q',
      `-Dmaven.repo.local=${resolve(ctx.cacheDir, 'm2')}`,
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
      `-DoutputDirectory=${lib}`,
      '-DincludeScope=runtime',
    ],
    { cwd: dir },
  );
  if (!existsSync(lib) || readdirSync(lib).length === 0)
    throw new Error(`Maven resolved no jars for ${name}`);
  writeFileSync(marker, new Date().toISOString());
  return lib;
}

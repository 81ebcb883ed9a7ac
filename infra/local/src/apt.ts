import { execFileSync } from 'node:child_process';
import type { StackContext } from './context.ts';

function installed(pkg: string): boolean {
  try {
    const out = execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.toString().includes('install ok installed');
  } catch {
    return false;
  }
}

/** Installs the Debian packages that are missing, in one apt-get run. Needs root (CI and dev machines are). */
export async function ensureAptPackages(ctx: StackContext, packages: readonly string[]): Promise<void> {
  const missing = [...new Set(packages)].filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing Debian packages: ${missing.join(' ')}. Install them with: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`,
    );
  }
  ctx.log(`apt-get install ${missing.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await ctx.run('apt-get', ['update', '-qq'], { env });
  await ctx.run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}

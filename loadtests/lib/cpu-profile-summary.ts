/**
 * Where a process spent its CPU, from a `--cpu-prof` file (the processor bench writes one with
 * `--cpu-prof <dir>`): self time per function and per file, idle and GC included, largest first.
 *
 *   node_modules/.bin/node loadtests/lib/cpu-profile-summary.ts /tmp/proc-prof/CPU.*.cpuprofile [--top 40]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '40' } },
});
const file = positionals[0];
if (!file) {
  process.stderr.write('usage: cpu-profile-summary.ts <file.cpuprofile> [--top N]\n');
  process.exit(2);
}
const top = Number(values.top);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
/** Shortens a frame's URL to the package-relative path. */
const where = (url: string) =>
  url.replace(/.*node_modules\//, '').replace(/^file:\/\/.*?\/(libs|services)\//, '$1/');

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0;
// A sample's time is the delta to the next sample.
for (let i = 0; i < profile.samples.length; i++) {
  const us = profile.timeDeltas[i + 1] ?? 0;
  total += us;
  const node = byId.get(profile.samples[i] as number);
  if (!node) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const fn = `${functionName || '(anonymous)'} ${where(url)}${url ? `:${lineNumber + 1}` : ''}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  const f = url ? where(url) : functionName;
  byFile.set(f, (byFile.get(f) ?? 0) + us);
}

function show(title: string, m: Map<string, number>): void {
  process.stdout.write(`\n${title} (profile ${(total / 1e6).toFixed(2)} s)\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(
      `${(us / 1e3).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}\n`,
    );
}
show('self time by function', byFunction);
show('self time by file', byFile);

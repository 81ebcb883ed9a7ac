import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The lowest port the OS hands out for `listen(0)` and outgoing connections. A port chosen below
 * it cannot be taken between the choice and its use by another process's `listen(0)` (a test's
 * services bind their telemetry to port 0), which an ephemeral port could.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 21_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer()
      .once('error', () => done(false))
      .listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that is free now and outside the ephemeral range: random in
 * [20000, 27000), so that neither the stack's fixed listeners (below 20000, and MongoDB's at
 * 27117/27118, which a scenario may have stopped for a while) nor a process listening on port 0
 * takes it before the caller binds it.
 */
export async function freePort(): Promise<number> {
  const low = 20_000;
  const high = Math.min(27_000, ephemeralLow());
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in [${low}, ${high}) after 200 tries`);
}

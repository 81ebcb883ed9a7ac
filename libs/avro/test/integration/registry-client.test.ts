/**
 * The registry client over its own HTTP(S) agent, against the local schema registry:
 *   - `registry.ca` reaches the TLS connection: through an https front of the registry whose
 *     certificate a throwaway CA signed, the client with that CA (as a file, as inline PEM)
 *     registers and reads schemas; without it the error names the untrusted certificate and
 *     registry.ca as the fix, and is not retried;
 *   - a registry that restarts between two requests (a TCP front that closes every connection
 *     and listens again 300 ms later) costs the caller nothing: the client retries inside;
 *   - credentials in `auth` go to the registry as basic auth and never into errors.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CdcError, isCdcError } from '@cdc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localEndpoints } from '../../../../infra/local/src/endpoints.ts';
import { RegistryClient } from '../../src/registry-client.ts';
import type { AvroRecordSchema } from '../../src/schema-types.ts';

const registryUrl = new URL(localEndpoints().registry.url);
const run = randomUUID().slice(0, 8);
const schema = (n: number): AvroRecordSchema => ({
  type: 'record',
  name: `R${n}`,
  namespace: `it.client.r${run}`,
  fields: [{ name: 'id', type: 'long' }],
});

async function failure(p: Promise<unknown>): Promise<CdcError> {
  try {
    await p;
  } catch (err) {
    if (isCdcError(err)) return err;
    throw err;
  }
  throw new Error('expected a CdcError');
}

/** A CA and a certificate for 127.0.0.1 it signed, made with openssl in a temporary folder. */
function certificates(): { dir: string; caFile: string; key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'registry-tls-'));
  const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  sh([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=cdc test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  ]);
  sh([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  ]);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  sh([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'server.pem',
  ]);
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    key: readFileSync(join(dir, 'server.key'), 'utf8'),
    cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
  };
}

/** Forwards every byte between `front` connections and the real registry. */
function tcpFront(): { listen(port?: number): Promise<number>; close(): Promise<void> } {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  return {
    listen(port = 0) {
      server = createServer((client) => {
        const upstream = connect(Number(registryUrl.port), registryUrl.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      return new Promise((resolve) =>
        server!.listen(port, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)),
      );
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}

describe('the registry client', () => {
  describe('over https with registry.ca', () => {
    let tls: https.Server;
    let base: string;
    let certs: ReturnType<typeof certificates>;

    beforeAll(async () => {
      certs = certificates();
      // An https front of the registry: TLS ends here, the request goes on over plain HTTP.
      tls = https.createServer({ key: certs.key, cert: certs.cert }, async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const upstream = await fetch(new URL(req.url ?? '/', registryUrl.origin), {
          method: req.method ?? 'GET',
          headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
          ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
        });
        res.writeHead(upstream.status, {
          'content-type': upstream.headers.get('content-type') ?? 'application/json',
        });
        res.end(Buffer.from(await upstream.arrayBuffer()));
      });
      const port = await new Promise<number>((resolve) =>
        tls.listen(0, '127.0.0.1', () => resolve((tls.address() as { port: number }).port)),
      );
      base = `https://127.0.0.1:${port}${registryUrl.pathname}`;
    });
    afterAll(() => new Promise<void>((resolve) => tls.close(() => resolve())));

    it('trusts the CA given as a file or inline, and registers and reads schemas through it', async () => {
      const fromFile = new RegistryClient({ url: base, ca: certs.caFile });
      const subject = `it.client.${run}.tls-value`;
      const id = await fromFile.register(subject, schema(1));
      expect(JSON.parse((await fromFile.schemaById(id)) ?? '{}').name).toBe('R1');
      const inline = new RegistryClient({ url: base, ca: readFileSync(certs.caFile, 'utf8') });
      expect((await inline.version(subject, 'latest'))?.id).toBe(id);
      fromFile.close();
      inline.close();
    });

    it('without the CA, says the certificate is not trusted and that registry.ca fixes it, without retrying', async () => {
      const requests: string[] = [];
      const client = new RegistryClient({
        url: base,
        retries: 3,
        onRequest: (m, u) => requests.push(`${m} ${u}`),
      });
      const err = await failure(client.subjects());
      expect(err.code).toBe('SCHEMA_REGISTRY_UNAVAILABLE');
      expect(err.retriable).toBe(false);
      expect(err.message).toContain(`the certificate of the schema registry at ${base} is not trusted`);
      expect(err.message).toContain('set registry.ca');
      expect(requests).toHaveLength(1);
    });

    it('names a ca that is neither PEM nor a file', () => {
      expect(() => new RegistryClient({ url: base, ca: '/nonexistent/ca.pem' })).toThrow(
        /registry\.ca: \/nonexistent\/ca\.pem is neither a PEM block nor an existing file/,
      );
    });
  });

  it('rides out a registry restart between two requests', async () => {
    const front = tcpFront();
    const port = await front.listen();
    const client = new RegistryClient({ url: `http://127.0.0.1:${port}${registryUrl.pathname}`, retries: 4 });
    const subject = `it.client.${run}.restart-value`;
    const id = await client.register(subject, schema(2));
    // The registry goes away (open keep-alive connections reset) and comes back 300 ms later.
    await front.close();
    const back = new Promise<void>((resolve) =>
      setTimeout(() => void front.listen(port).then(() => resolve()), 300),
    );
    const [found] = await Promise.all([client.lookup(subject, schema(2)), back]);
    expect(found?.id).toBe(id);
    await front.close();
    client.close();
  });

  it('sends auth as basic credentials and keeps them out of errors', async () => {
    const seen: string[] = [];
    const server = createServer((s) => {
      s.once('data', (d: Buffer) => {
        seen.push(d.toString('latin1'));
        s.end(
          'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 33\r\nConnection: close\r\n\r\n{"message":"restarting, go away"}',
        );
      });
    });
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
    const client = new RegistryClient({
      url: `http://127.0.0.1:${port}/apis/ccompat/v7`,
      auth: { username: 'reg-user', password: 'reg-Secr3t' },
      retries: 1,
    });
    const err = await failure(client.subjects());
    server.close();
    expect(seen).toHaveLength(2); // one retry
    expect(seen[0]).toContain(
      `Authorization: Basic ${Buffer.from('reg-user:reg-Secr3t').toString('base64')}`,
    );
    expect(seen[0]).toMatch(/^GET \/apis\/ccompat\/v7\/subjects HTTP\/1\.1/);
    expect(err.code).toBe('SCHEMA_REGISTRY_UNAVAILABLE');
    expect(err.retriable).toBe(true);
    expect(err.message).toContain('restarting, go away (HTTP 503)');
    expect(JSON.stringify({ m: err.message, c: err.context })).not.toContain('reg-Secr3t');
  });
});

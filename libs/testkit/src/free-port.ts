import { type AddressInfo, createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that the OS says is free now (fixed ranges collide with the stack's own listeners). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer()
      .once('error', fail)
      .listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => done(port));
      });
  });
}

/**
 * @cdc/testkit (private): what the integration tests and scenarios of every package share, so
 * that no package copies another's test files.
 *
 *   const proxy = new TcpProxy('127.0.0.1', 15432);   // take a shared server "down" for one test
 *   await proxy.start(); … await proxy.cut(); … await proxy.restore();
 *   const port = await freePort();
 */
export { freePort } from './free-port.ts';
export { kafkaSocketFactory, TcpProxy } from './tcp-proxy.ts';

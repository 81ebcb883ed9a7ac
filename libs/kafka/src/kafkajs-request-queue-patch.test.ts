import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';

// patches/kafkajs+2.2.4.patch: a connection's request queue no longer checks its empty queue on
// a 1 ms timer for as long as the connection lives (kafkajs set a timer of negative delay after
// every response, which Node runs after 1 ms and warns of). Requests held back by the in-flight
// limit or a broker's throttle must still go out.
const require = createRequire(import.meta.url);
interface Queue {
  push(request: { entry: Entry; expectResponse: boolean; sendRequest: () => void }): void;
  fulfillRequest(response: { correlationId: number; payload: Buffer | null; size: number }): void;
  maybeThrottle(ms: number): void;
  checkPendingRequests(): void;
  destroy(): void;
}
interface Entry {
  correlationId: number;
  apiKey: number;
  apiName: string;
  apiVersion: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: {
  maxInFlightRequests: number | null;
  requestTimeout: number;
  enforceRequestTimeout: boolean;
  clientId: string;
  broker: string;
  logger: Record<'debug' | 'info' | 'warn' | 'error', () => void>;
}) => Queue;

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const queues: Queue[] = [];
afterEach(() => {
  for (const q of queues.splice(0)) q.destroy();
});

function queue(maxInFlightRequests: number | null): { q: Queue; sent: number[] } {
  const q = new RequestQueue({
    maxInFlightRequests,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: 'localhost:0',
    logger: quiet,
  });
  queues.push(q);
  const sent: number[] = [];
  return { q, sent };
}

function request(sent: number[], correlationId: number) {
  return {
    entry: {
      correlationId,
      apiKey: 3,
      apiName: 'Metadata',
      apiVersion: 6,
      resolve() {},
      reject() {},
    },
    expectResponse: true,
    sendRequest: () => sent.push(correlationId),
  };
}

describe('kafkajs request queue (patched)', () => {
  it('checks an empty queue no more after a response: an idle connection runs no timer', async () => {
    const { q, sent } = queue(null);
    let checks = 0;
    const check = q.checkPendingRequests.bind(q);
    q.checkPendingRequests = () => {
      checks += 1;
      check();
    };
    q.push(request(sent, 1));
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    await sleep(100);
    // The response's own check only: kafkajs 2.2.4 checked again every millisecond (about 100 here).
    expect(sent).toEqual([1]);
    expect(checks).toBe(1);
  });

  it('sends a request held back by the in-flight limit once a response frees a slot', () => {
    const { q, sent } = queue(1);
    q.push(request(sent, 1));
    q.push(request(sent, 2));
    expect(sent).toEqual([1]);
    q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    expect(sent).toEqual([1, 2]);
  });

  it('sends a request held back by a broker throttle once the throttle ends', async () => {
    const { q, sent } = queue(null);
    q.maybeThrottle(40);
    q.push(request(sent, 1));
    expect(sent).toEqual([]);
    const deadline = Date.now() + 2_000;
    while (sent.length === 0 && Date.now() < deadline) await sleep(5);
    expect(sent).toEqual([1]);
  });
});

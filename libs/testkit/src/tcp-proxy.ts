/**
 * A TCP proxy on 127.0.0.1 in front of a shared server (PostgreSQL, the Kafka broker, ClickHouse), to take
 * it "down" for one test without stopping it for the others: `cut()` closes the listener (new
 * connections are refused) and resets every open connection (the server sees the reset at
 * once: a walsender behind it exits); `restore()` listens again on the same port.
 *
 * Kafka clients connect to the broker address its metadata advertises, not to the proxy: give
 * the kafkajs client `kafkaSocketFactory(proxy)`, which sends every broker connection through it.
 */
import { connect, createConnection, createServer, type Server, type Socket } from 'node:net';
import { type ISocketFactory, Kafka, logLevel } from 'kafkajs';

export class TcpProxy {
  readonly targetHost: string;
  readonly targetPort: number;
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(targetHost: string, targetPort: number) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

  /** A proxy in front of a server given as a URL (`http://127.0.0.1:18123`). */
  static forUrl(target: string): TcpProxy {
    const u = new URL(target);
    return new TcpProxy(u.hostname, Number(u.port));
  }

  get up(): boolean {
    return this.server !== undefined;
  }

  /** The proxy's own URL (HTTP servers). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: this.port }, () => resolve());
    });
    const addr = server.address();
    if (addr && typeof addr === 'object') this.port = addr.port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  restore(): Promise<void> {
    return this.start();
  }

  close(): Promise<void> {
    return this.cut();
  }
}

/** A kafkajs socket factory that connects every broker connection through `proxy`. */
export function kafkaSocketFactory(proxy: TcpProxy): ISocketFactory {
  return ({ onConnect }) => {
    const socket = connect({ host: '127.0.0.1', port: proxy.port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    return socket;
  };
}

/**
 * A started proxy in front of the first of `brokers` and a kafkajs client whose every broker
 * connection goes through it, with short timeouts and few retries, so that a `cut()` shows in
 * the client at once (`kafka-down` scenarios).
 */
export async function proxiedKafka(
  brokers: string[],
  clientId: string,
): Promise<{ proxy: TcpProxy; kafka: Kafka }> {
  const [host, port] = (brokers[0] as string).split(':') as [string, string];
  const proxy = new TcpProxy(host, Number(port));
  await proxy.start();
  const kafka = new Kafka({
    clientId,
    brokers,
    socketFactory: kafkaSocketFactory(proxy),
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
    logLevel: logLevel.NOTHING,
  });
  return { proxy, kafka };
}

/**
 * The telemetry listener of every service: `GET /metrics` (Prometheus text format), `/healthz`
 * (the process is alive and its event loop turns) and `/readyz` (every readiness check passes).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CdcError, type Logger, redactSecrets } from '@cdc/core';
import type { Readiness, ReadinessReport } from './readiness.ts';

export interface TelemetryServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  readiness: Readiness;
  /** Writes the Prometheus exposition to the response. */
  metrics: (req: IncomingMessage, res: ServerResponse) => void;
  /** Called with each readiness report (to export `cdc_ready`). */
  onReadiness?: (report: ReadinessReport) => void;
  /** Literal values scrubbed from `/readyz` details (check errors can quote connection strings). */
  secrets?: readonly string[];
  logger: Logger;
}

export interface TelemetryServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

export async function startTelemetryServer(options: TelemetryServerOptions): Promise<TelemetryServer> {
  const { readiness, logger } = options;
  const secrets = options.secrets ?? [];
  const ready = async (): Promise<ReadinessReport> => {
    const report = redactSecrets(await readiness.evaluate(), secrets);
    options.onReadiness?.(report);
    return report;
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: 'only GET' });
      return;
    }
    switch (path) {
      case '/healthz':
        json(res, 200, { status: 'alive' });
        return;
      case '/readyz': {
        const report = await ready();
        json(res, report.ready ? 200 : 503, { status: report.ready ? 'ready' : 'not ready', ...report });
        return;
      }
      case '/metrics':
        await ready();
        options.metrics(req, res);
        return;
      default:
        json(res, 404, { error: `no route ${path}: try /metrics, /healthz or /readyz` });
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error('telemetry request failed', { path: req.url, err });
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        new CdcError(
          'CONFIG_INVALID',
          `cannot listen on ${options.host}:${options.port} for /metrics /healthz /readyz: ${err.message}. ` +
            'Set telemetry.http.port (or CDC__TELEMETRY__HTTP__PORT) to a free port, or 0 for any',
          { context: { key: 'telemetry.http.port', host: options.host, port: options.port }, cause: err },
        ),
      );
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    host,
    port,
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

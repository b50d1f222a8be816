import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { splitHostPort } from '../net/address.js';

/**
 * The Prometheus scrape endpoint: GET /metrics in the text exposition format, on its own
 * port (--metrics-listen) so scraping never shares the gRPC port's TLS and auth.
 */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(listen: string, registry: Registry, log: Logger): Promise<MetricsServer> {
  const address = splitHostPort(listen, { allowPortZero: true });
  if (!address) throw new Error(`--metrics-listen "${listen}" is not HOST:PORT (e.g. 0.0.0.0:9464, [::]:9464) or "off"`);
  const { host, port } = address;
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => {
        log.error({ err }, 'collecting metrics failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on --metrics-listen ${listen}: ${err.message}`, { cause: err })));
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  log.info({ listen, port: bound }, 'metrics listening');
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

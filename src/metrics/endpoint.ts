import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { startMetricsServer, type MetricsServer } from './http-server.js';
import { createMetricsRegistry } from './registry.js';

/**
 * What a command needs for --metrics-listen: a registry to register its metrics in (always,
 * so wiring does not branch) and, unless "off", the HTTP endpoint serving it.
 */
export interface MetricsEndpoint {
  readonly registry: Registry;
  /** Starts serving (no-op when off); resolves with the bound port. */
  start(): Promise<number | undefined>;
  close(): Promise<void>;
}

export function metricsEndpoint(listen: string, log: Logger): MetricsEndpoint {
  const registry = createMetricsRegistry();
  let server: MetricsServer | undefined;
  return {
    registry,
    async start() {
      if (listen === 'off') return undefined;
      server = await startMetricsServer(listen, registry, log.child({ component: 'metrics' }));
      return server.port;
    },
    async close() {
      await server?.close();
      server = undefined;
    },
  };
}

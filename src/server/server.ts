import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { Ingest, type IngestStats } from '../ingest/ingest.js';
import { collectorIngestHandlers } from '../ingest/service.js';
import { FirstReportGate } from '../keda/first-report-gate.js';
import { externalScalerHandlers } from '../keda/service.js';
import { targetIdOf } from '../keda/trigger.js';
import { createLogger } from '../log.js';
import { instrumentExternalScaler } from '../metrics/instrument-keda.js';
import type { ScalerMetrics } from '../metrics/scaler-metrics.js';
import type { ExternalScalerHandlers } from '../proto/generated/externalscaler/ExternalScaler.js';
import { loadCollector, loadExternalScaler, reflectionPackageDefinition } from '../proto/load.js';
import { TargetRegistry } from '../scaler/registry.js';
import { StandaloneResolver, type TargetResolver } from '../scaler/resolver.js';
import { WindowStore, type WindowStoreStats } from '../scaler/window-store.js';
import { StreamTracker } from './streams.js';

/**
 * The scaler's one gRPC server on one port: externalscaler.ExternalScaler (KEDA),
 * kedaebpf.collector.v1.CollectorIngest (collectors), server reflection and
 * grpc.health.v1.Health. Everything it runs on can be injected (clock, store, registry,
 * resolver) so tests and the standalone mode wire their own.
 */
export interface ScalerServerOptions {
  /** HOST:PORT ("[::]:9090" for IPv6); port 0 picks a free one. Default 0.0.0.0:9090. */
  readonly listen?: string;
  /** Default: plaintext. See server/credentials.ts for TLS/mTLS. */
  readonly credentials?: grpc.ServerCredentials;
  readonly log?: Logger;
  /** Unix ms; default Date.now. */
  readonly clock?: () => number;
  readonly maxTargets?: number;
  readonly targetIdleExpiryMs?: number;
  /** Give a store, or a registry (which brings its store), to share them with other code. */
  readonly store?: WindowStore;
  readonly registry?: TargetRegistry;
  /** Default: StandaloneResolver (port/netns/demandAddress; `service` is refused). */
  readonly resolver?: TargetResolver;
  readonly scalerId?: string;
  /** How often idle targets are expired. Default: a quarter of the idle expiry, at most 30 s. */
  readonly sweepIntervalMs?: number;
  /** How long stop() waits for calls to finish before cutting them. Default 5 s. */
  readonly shutdownGraceMs?: number;
  /** Hold a target's first activity answer until collectors reported on it (keda/first-report-gate.ts). Default: off. */
  readonly firstReport?: { readonly connectGraceMs: number; readonly intervalMs: number };
  /** Prometheus metrics of this server (src/metrics). Default: none. */
  readonly metrics?: ScalerMetrics;
}

export interface ScalerStats {
  readonly store: WindowStoreStats;
  readonly ingest: IngestStats;
  readonly openStreams: number;
  readonly watchSetGeneration: number;
}

export interface ScalerServer {
  readonly registry: TargetRegistry;
  readonly store: WindowStore;
  /** The collector protocol without gRPC: an in-process collector calls ingest.openSession(). */
  readonly ingest: Ingest;
  /** Binds and starts serving; resolves with the bound port. */
  start(): Promise<{ port: number }>;
  /** Graceful: NOT_SERVING, end every stream with OK, stop accepting, wait for calls. */
  stop(): Promise<void>;
  stats(): ScalerStats;
}

export const DEFAULT_LISTEN = '0.0.0.0:9090';

const SERVICE_NAMES = ['', 'externalscaler.ExternalScaler', 'kedaebpf.collector.v1.CollectorIngest'] as const;

export function createScalerServer(options: ScalerServerOptions = {}): ScalerServer {
  const log = options.log ?? createLogger('info');
  const clock = options.clock ?? Date.now;
  const store =
    options.registry?.store ??
    options.store ??
    new WindowStore({
      ...(options.maxTargets !== undefined ? { maxTargets: options.maxTargets } : {}),
      ...(options.targetIdleExpiryMs !== undefined ? { idleExpiryMs: options.targetIdleExpiryMs } : {}),
    });
  const registry = options.registry ?? new TargetRegistry(store, options.resolver ?? new StandaloneResolver(), log.child({ component: 'registry' }));
  const streams = new StreamTracker();
  const ingest = new Ingest({ registry, clock, scalerId: options.scalerId ?? randomUUID(), log: log.child({ component: 'ingest' }) });

  const firstReport = options.firstReport && new FirstReportGate({ ingest, store, clock, ...options.firstReport });
  options.metrics?.observe(ingest, store, clock);
  const instrumented = (handlers: ExternalScalerHandlers): ExternalScalerHandlers => (options.metrics ? instrumentExternalScaler(handlers, options.metrics, (ref) => targetIdOf(ref, registry)) : handlers);

  const server = new grpc.Server();
  server.addService(loadExternalScaler().externalscaler.ExternalScaler.service, instrumented(externalScalerHandlers({ registry, ingest, streams, clock, log: log.child({ component: 'keda' }), ...(firstReport ? { firstReport } : {}) })));
  server.addService(loadCollector().kedaebpf.collector.v1.CollectorIngest.service, collectorIngestHandlers(ingest, streams, log.child({ component: 'ingest' })));
  new ReflectionService(reflectionPackageDefinition()).addToServer(server);
  const health = new HealthImplementation(Object.fromEntries(SERVICE_NAMES.map((name) => [name, 'SERVING' as const])));
  health.addToServer(server);

  const sweepEveryMs = options.sweepIntervalMs ?? Math.max(1000, Math.min(30_000, store.idleExpiryMs / 4));
  let sweepTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  const stats = (): ScalerStats => ({
    store: store.stats(),
    ingest: ingest.stats(),
    openStreams: streams.size,
    watchSetGeneration: registry.generation,
  });

  return {
    registry,
    store,
    ingest,
    stats,
    start: () =>
      new Promise((resolve, reject) => {
        const listen = options.listen ?? DEFAULT_LISTEN;
        server.bindAsync(listen, options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, port) => {
          if (err) {
            reject(new Error(`cannot listen on ${listen}: ${err.message}`, { cause: err }));
            return;
          }
          sweepTimer = setInterval(() => {
            registry.sweep(clock());
            log.debug({ stats: stats() }, 'scaler stats');
          }, sweepEveryMs);
          sweepTimer.unref();
          firstReport?.started();
          log.info({ listen, port, maxTargets: store.maxTargets, targetIdleExpiryMs: store.idleExpiryMs }, 'scaler listening');
          resolve({ port });
        });
      }),
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        clearInterval(sweepTimer);
        firstReport?.close();
        for (const name of SERVICE_NAMES) health.setStatus(name, 'NOT_SERVING');
        const open = streams.size;
        streams.endAll();
        const force = setTimeout(() => {
          log.warn('calls still running after the grace period: cutting them');
          server.forceShutdown();
          resolve();
        }, options.shutdownGraceMs ?? 5000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          log.info({ streamsEnded: open }, 'scaler stopped');
          resolve();
        });
      });
      return stopping;
    },
  };
}

import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { Ingest, type IngestStats } from '../ingest/ingest.js';
import { createIngestListener, type IngestListener, type IngestListenerOptions } from '../ingest/listener.js';
import type { PlausibilityLimits } from '../ingest/plausibility.js';
import { monotonicClock } from '../clock.js';
import { FirstReportGate } from '../keda/first-report-gate.js';
import { externalScalerHandlers } from '../keda/service.js';
import { targetIdOf } from '../keda/trigger.js';
import { TRIGGER_CACHE_ENTRIES_PER_TARGET } from '../keda/trigger-cache.js';
import { withWireCaches } from '../keda/wire-cache.js';
import { ActivityStreams, type ActivityStreamsStats } from '../keda/activity-streams.js';
import { DEFAULT_MAX_REPORT_BYTES } from '../scaler/limits.js';
import { createLogger } from '../log.js';
import { instrumentExternalScaler } from '../metrics/instrument-keda.js';
import type { ScalerMetrics } from '../metrics/scaler-metrics.js';
import type { ExternalScalerHandlers } from '../proto/generated/externalscaler/ExternalScaler.js';
import { loadExternalScaler, reflectionPackageDefinition } from '../proto/load.js';
import { TargetRegistry } from '../scaler/registry.js';
import { StandaloneResolver, type TargetResolver } from '../scaler/resolver.js';
import { WindowStore, type WindowStoreStats } from '../scaler/window-store.js';
import { StreamTracker } from './streams.js';

/**
 * The scaler's gRPC servers: on the KEDA port externalscaler.ExternalScaler, server
 * reflection and grpc.health.v1.Health; on the ingest port (ingest/listener.ts)
 * kedaebpf.collector.v1.CollectorIngest for authenticated collectors. Everything it runs on can be injected (clock, store, registry,
 * resolver) so tests and the standalone mode wire their own.
 */
export interface ScalerServerOptions {
  /** HOST:PORT ("[::]:9090" for IPv6); port 0 picks a free one. Default 0.0.0.0:9090. */
  readonly listen?: string;
  /** Default: plaintext. See server/credentials.ts for TLS/mTLS. */
  readonly credentials?: grpc.ServerCredentials;
  readonly log?: Logger;
  /** Unix-ms-like; default monotonicClock (wall-clock steps move nothing). */
  readonly clock?: () => number;
  /**
   * The collectors' port (CollectorIngest, authenticated). Undefined: no ingest port, for
   * the standalone mode whose collector is in-process (server.ingest.openSession()).
   */
  readonly ingest?: IngestListenerOptions;
  /** Bounds on what a collector may claim per report. Default DEFAULT_PLAUSIBILITY. */
  readonly plausibility?: PlausibilityLimits;
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
  /** Largest message decoded (bigger ones end the stream with RESOURCE_EXHAUSTED before decoding). Default 256 KiB. */
  readonly maxReceiveMessageBytes?: number;
  /** Window store bounds (when no store or registry is given); see WindowStoreOptions. */
  readonly maxHistogramBytes?: number;
  readonly maxTargetsPerScaledObject?: number;
}

export interface ScalerStats {
  readonly store: WindowStoreStats;
  readonly ingest: IngestStats;
  readonly openStreams: number;
  readonly watchSetGeneration: number;
  /** StreamIsActive re-evaluation: groups, flushes, evaluations, coalesced updates. */
  readonly activityStreams: ActivityStreamsStats;
  /** Warning lines (target refused / evicted) held back by the rate limit. */
  readonly warningsSuppressed: number;
}

export interface ScalerServer {
  readonly registry: TargetRegistry;
  readonly store: WindowStore;
  /** The collector protocol without gRPC: an in-process collector calls ingest.openSession(). */
  readonly ingest: Ingest;
  /** Binds and starts serving; resolves with the bound port (and the ingest port, when there is one). */
  start(): Promise<{ port: number; ingestPort?: number }>;
  /** Graceful: NOT_SERVING, end every stream with OK, stop accepting, wait for calls. */
  stop(): Promise<void>;
  stats(): ScalerStats;
}

export const DEFAULT_LISTEN = '0.0.0.0:9090';

const SERVICE_NAMES = ['', 'externalscaler.ExternalScaler'] as const;
const REFLECTED_SERVICES = ['externalscaler.ExternalScaler', 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'] as const;

export function createScalerServer(options: ScalerServerOptions = {}): ScalerServer {
  const log = options.log ?? createLogger('info');
  const clock = options.clock ?? monotonicClock;
  const store =
    options.registry?.store ??
    options.store ??
    new WindowStore({
      ...(options.maxTargets !== undefined ? { maxTargets: options.maxTargets } : {}),
      ...(options.targetIdleExpiryMs !== undefined ? { idleExpiryMs: options.targetIdleExpiryMs } : {}),
      ...(options.maxHistogramBytes !== undefined ? { maxHistogramBytes: options.maxHistogramBytes } : {}),
      ...(options.maxTargetsPerScaledObject !== undefined ? { maxTargetsPerScaledObject: options.maxTargetsPerScaledObject } : {}),
    });
  const registry = options.registry ?? new TargetRegistry(store, options.resolver ?? new StandaloneResolver(), log.child({ component: 'registry' }));
  const streams = new StreamTracker();
  const ingest = new Ingest({ registry, clock, scalerId: options.scalerId ?? randomUUID(), log: log.child({ component: 'ingest' }), ...(options.plausibility ? { plausibility: options.plausibility } : {}), ...(options.clock ? {} : { wallClock: Date.now }) });
  const ingestListener: IngestListener | undefined = options.ingest && createIngestListener({ maxReceiveMessageBytes: options.maxReceiveMessageBytes ?? DEFAULT_MAX_REPORT_BYTES, ...options.ingest }, ingest, streams, log.child({ component: 'ingest' }));

  const firstReport = options.firstReport && new FirstReportGate({ ingest, store, clock, ...options.firstReport });
  options.metrics?.observe(ingest, store, clock);
  const instrumented = (handlers: ExternalScalerHandlers): ExternalScalerHandlers => (options.metrics ? instrumentExternalScaler(handlers, options.metrics, (ref) => targetIdOf(ref, registry)) : handlers);

  const activityStreams = new ActivityStreams(store, clock);
  // Checked on each message's length prefix, before any decoding (attack 9: 1M-entry arrays).
  // Channelz off: nothing here serves its data (no channelz service is registered), and its
  // per-call bookkeeping (closures, timestamps, counters) cost the KEDA path ~3 % of its CPU.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_REPORT_BYTES, 'grpc.enable_channelz': 0 });
  // KEDA resends identical requests and gets the same few answers: decode and encode once (keda/wire-cache.ts).
  server.addService(
    withWireCaches(loadExternalScaler().externalscaler.ExternalScaler.service, Math.max(256, store.maxTargets * TRIGGER_CACHE_ENTRIES_PER_TARGET)),
    instrumented(externalScalerHandlers({ registry, ingest, streams, clock, log: log.child({ component: 'keda' }), activityStreams, ...(firstReport ? { firstReport } : {}) })),
  );
  // Reflection lists what this port serves; the collector ingest service has its own port.
  new ReflectionService(reflectionPackageDefinition(), { services: [...REFLECTED_SERVICES] }).addToServer(server);
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
    activityStreams: activityStreams.stats(),
    warningsSuppressed: registry.warningsSuppressed,
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
          if (!ingestListener) {
            resolve({ port });
            return;
          }
          ingestListener.start().then(
            (ingestPort) => resolve({ port, ingestPort }),
            (ingestErr: unknown) => {
              clearInterval(sweepTimer);
              server.forceShutdown();
              reject(ingestErr instanceof Error ? ingestErr : new Error(String(ingestErr)));
            },
          );
        });
      }),
    stop: () => {
      stopping ??= new Promise<void>((resolve) => {
        clearInterval(sweepTimer);
        firstReport?.close();
        activityStreams.close();
        for (const name of SERVICE_NAMES) health.setStatus(name, 'NOT_SERVING');
        ingestListener?.setNotServing();
        const open = streams.size;
        streams.endAll();
        const force = setTimeout(() => {
          log.warn('calls still running after the grace period: cutting them');
          server.forceShutdown();
          ingestListener?.forceShutdown();
          resolve();
        }, options.shutdownGraceMs ?? 5000);
        force.unref();
        let pending = ingestListener ? 2 : 1;
        const stopped = (): void => {
          if (--pending > 0) return;
          clearTimeout(force);
          log.info({ streamsEnded: open }, 'scaler stopped');
          resolve();
        };
        server.tryShutdown(stopped);
        ingestListener?.tryShutdown(stopped);
      });
      return stopping;
    },
  };
}

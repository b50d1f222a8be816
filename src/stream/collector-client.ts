import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { CollectorTick } from '../collector/types.js';
import type { Logger } from '../log.js';
import type { Hello } from '../proto/generated/kedaebpf/collector/v1/Hello.js';
import type { BackoffOptions } from '../backoff.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { loadCollector } from '../proto/load.js';
import { splitTick } from './report-split.js';
import { tickToReport } from './report-encode.js';
import { DEFAULT_BACKLOG_LIMITS, ReportBacklog, type BacklogLimits } from './report-backlog.js';
import {
  parseScalerAddresses,
  resolveScalerEndpoints,
  systemResolver,
  type HostResolver,
  type ScalerAddress,
  type ScalerEndpoint,
} from './scaler-endpoints.js';
import { PROTOCOL_VERSION, ScalerConnection, type ScalerConnectionStatus } from './scaler-connection.js';
import type { ReceivedWatchTarget } from './watch-target.js';
import { WatchUnion } from './watch-union.js';

export interface CollectorStreamClientOptions {
  /** Comma list of HOST:PORT; a DNS name counts as one scaler per address it resolves to. */
  readonly scalers: string;
  readonly nodeName: string;
  /** Collector software version, sent in Hello. */
  readonly version: string;
  /** Hook rung chosen by probing: "tp_btf", "fentry", "kprobe". */
  readonly hookRung: string;
  /** e.g. "ipv6", "demand", "ringbuf-wakeup". */
  readonly capabilities: readonly string[];
  readonly logger: Logger;
  /** Called with the union of all scalers' watch sets whenever it changes. */
  readonly onWatchSet?: (targets: readonly ReceivedWatchTarget[]) => void;
  /** Default: insecure (plaintext). */
  readonly credentials?: grpc.ChannelCredentials;
  /** Default: node:dns lookup({ all: true }). */
  readonly resolve?: HostResolver;
  /** How often DNS names are resolved again to follow replicas. Default 15 s. */
  readonly reresolveIntervalMs?: number;
  readonly backoff?: Partial<BackoffOptions>;
  readonly backlog?: Partial<BacklogLimits>;
  /** Stream uptime after which the backoff starts again from its first step. Default 10 s. */
  readonly stableMs?: number;
  readonly welcomeTimeoutMs?: number;
  /** Default: a random UUID per process start (the scaler tells a restart from a resend by it). */
  readonly collectorId?: string;
  /** Jitter source, [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** Call credentials for every Connect (stream/token-file.ts: the bearer token, read per connect). */
  readonly metadata?: () => grpc.Metadata;
}

/** Headless Service membership changes at pod start/stop; 15 s follows it without hammering DNS. */
const DEFAULT_RERESOLVE_MS = 15_000;
/** While no scaler address resolves at all, try again sooner than the periodic interval. */
const UNRESOLVED_RETRY_MS = 1000;

/**
 * The collector's side of proto/collector.proto: one stream per scaler replica, every
 * report to every replica (the scalers merge independently; no consensus), the union of
 * their watch sets back to the collector. Sequence numbers plus a shared bounded backlog
 * let a reconnecting scaler get exactly the reports it lacks.
 */
export class CollectorStreamClient {
  readonly collectorId: string;
  private readonly addresses: ScalerAddress[];
  private readonly connections = new Map<string, { endpoint: ScalerEndpoint; connection: ScalerConnection }>();
  private readonly union = new WatchUnion();
  private readonly backlog: ReportBacklog;
  private readonly hello: Hello;
  private readonly log: Logger;
  private sequence = 0;
  private resolveTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private closed = false;
  private readonly proto = loadCollector();

  constructor(private readonly options: CollectorStreamClientOptions) {
    // Throws ScalerAddressError naming the malformed entry: a usage error, before any I/O.
    this.addresses = parseScalerAddresses(options.scalers);
    this.collectorId = options.collectorId ?? randomUUID();
    this.backlog = new ReportBacklog({ ...DEFAULT_BACKLOG_LIMITS, ...options.backlog });
    this.log = options.logger.child({ component: 'stream', collectorId: this.collectorId });
    this.hello = {
      protocol_version: PROTOCOL_VERSION,
      node_name: options.nodeName,
      collector_id: this.collectorId,
      version: options.version,
      hook_rung: options.hookRung,
      capabilities: [...options.capabilities],
    };
  }

  /** Resolves the scaler addresses and opens the streams; resolves once the first round is done. */
  async start(): Promise<void> {
    await this.refreshEndpoints();
  }

  /**
   * Queues a tick as the next report and writes it at once to every ready scaler (a wake-up
   * tick therefore goes out immediately). A tick with many targets becomes several reports
   * (report-split.ts). Returns the (last) report's sequence number.
   */
  send(tick: CollectorTick): number {
    if (this.closed) throw new Error('collector stream client is closed');
    for (const part of splitTick(tick)) {
      this.sequence++;
      this.backlog.push(this.sequence, tickToReport(part, this.sequence));
    }
    for (const { connection } of this.connections.values()) connection.pump();
    return this.sequence;
  }

  /** The current union of all scalers' watch sets, sorted by targetId. */
  get watchTargets(): readonly ReceivedWatchTarget[] {
    return this.union.targets;
  }

  /** Sequence of the newest report produced (0: none yet). */
  get lastSequence(): number {
    return this.sequence;
  }

  get backlogSize(): number {
    return this.backlog.size;
  }

  scalers(): ScalerConnectionStatus[] {
    return [...this.connections.values()].map(({ connection }) => connection.status()).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /**
   * Resolves the addresses again and reconciles the streams: new replicas get a stream,
   * replicas that left lose theirs and their watch set. A name that fails to resolve keeps
   * the endpoints it had (a DNS hiccup must not drop every scaler).
   */
  refreshEndpoints(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
      this.scheduleRefresh();
    });
    return this.refreshing;
  }

  /** Ends every stream cleanly (half-close, the scaler answers OK) and stops reconnecting. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resolveTimer);
    await this.refreshing?.catch(() => {});
    await Promise.all([...this.connections.values()].map(({ connection }) => connection.close()));
    this.connections.clear();
  }

  private async doRefresh(): Promise<void> {
    const { endpoints, failures } = await resolveScalerEndpoints(this.addresses, this.options.resolve ?? systemResolver);
    if (this.closed) return;
    const desired = new Map(endpoints.map((e) => [e.key, e]));
    const failedNames = new Set(failures.map((f) => f.hostname));
    for (const failure of failures) this.log.warn(failure, 'scaler address did not resolve; keeping its previous endpoints');
    for (const { endpoint } of this.connections.values()) {
      if (endpoint.hostname !== undefined && failedNames.has(endpoint.hostname) && !desired.has(endpoint.key)) {
        desired.set(endpoint.key, endpoint);
      }
    }
    for (const [key, { connection }] of this.connections) {
      if (desired.has(key)) continue;
      this.connections.delete(key);
      this.log.info({ scaler: key }, 'scaler left the address list; closing its stream');
      void connection.close();
      if (this.union.remove(key)) this.emitWatchSet();
    }
    for (const [key, endpoint] of desired) {
      if (this.connections.has(key)) continue;
      const connection = new ScalerConnection({
        endpoint,
        proto: this.proto,
        credentials: this.options.credentials ?? grpc.credentials.createInsecure(),
        hello: this.hello,
        backlog: this.backlog,
        backoff: { ...DEFAULT_BACKOFF, ...this.options.backoff },
        random: this.options.random ?? Math.random,
        stableMs: this.options.stableMs ?? 10_000,
        welcomeTimeoutMs: this.options.welcomeTimeoutMs ?? 10_000,
        logger: this.log,
        ...(this.options.metadata ? { metadata: this.options.metadata } : {}),
        onWatchSet: (scalerKey, targets) => {
          if (this.connections.get(scalerKey)?.connection !== connection) return;
          if (this.union.set(scalerKey, targets)) this.emitWatchSet();
        },
      });
      this.connections.set(key, { endpoint, connection });
      this.log.info({ scaler: key, ...(endpoint.hostname ? { scalerHost: endpoint.hostname } : {}) }, 'streaming to scaler');
      connection.start();
    }
  }

  private scheduleRefresh(): void {
    if (this.closed) return;
    const hasNames = this.addresses.some((a) => isIP(a.host) === 0);
    const interval = this.connections.size === 0 ? UNRESOLVED_RETRY_MS : (this.options.reresolveIntervalMs ?? DEFAULT_RERESOLVE_MS);
    if (!hasNames && this.connections.size > 0) return; // IP literals only: nothing to follow
    clearTimeout(this.resolveTimer);
    this.resolveTimer = setTimeout(() => void this.refreshEndpoints(), interval);
  }

  private emitWatchSet(): void {
    const targets = this.union.targets;
    this.log.info({ targets: targets.length }, 'watch set changed');
    this.options.onWatchSet?.(targets);
  }
}

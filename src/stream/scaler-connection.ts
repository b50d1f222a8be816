import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log.js';
import type { CollectorMessage } from '../proto/generated/kedaebpf/collector/v1/CollectorMessage.js';
import type { Hello } from '../proto/generated/kedaebpf/collector/v1/Hello.js';
import type { ScalerMessage__Output } from '../proto/generated/kedaebpf/collector/v1/ScalerMessage.js';
import type { ProtoGrpcType as CollectorProto } from '../proto/generated/collector.js';
import { Backoff, type BackoffOptions } from '../backoff.js';
import type { ReportBacklog } from './report-backlog.js';
import type { ScalerEndpoint } from './scaler-endpoints.js';
import { monotonicMs } from '../clock.js';
import { WatchSetAssembler } from './watch-set-assembly.js';
import { parseWatchTargets, type ReceivedWatchTarget } from './watch-target.js';

/** Protocol major version this collector speaks (Hello.protocol_version). */
export const PROTOCOL_VERSION = 1;

export type ConnectionState = 'connecting' | 'ready' | 'backoff' | 'closed';

export interface ScalerConnectionOptions {
  readonly endpoint: ScalerEndpoint;
  readonly proto: CollectorProto;
  readonly credentials: grpc.ChannelCredentials;
  readonly hello: Hello;
  readonly backlog: ReportBacklog;
  readonly backoff: BackoffOptions;
  readonly random: () => number;
  /** A stream that stayed up this long resets the backoff (a flapping scaler does not). */
  readonly stableMs: number;
  /** No Welcome within this time: give up on the attempt and retry. */
  readonly welcomeTimeoutMs: number;
  readonly logger: Logger;
  readonly onWatchSet: (scalerKey: string, targets: readonly ReceivedWatchTarget[]) => void;
  /** Call credentials sent with every Connect (e.g. the bearer token, read again per connect). */
  readonly metadata?: () => grpc.Metadata;
}

/** What a connection has done so far (for status output and tests). */
export interface ScalerConnectionStatus {
  readonly key: string;
  readonly hostname?: string;
  readonly state: ConnectionState;
  /** Streams that reached Welcome. */
  readonly connects: number;
  /** Reports written to this scaler over all streams (resends included). */
  readonly reportsWritten: number;
  /** Reports resent from the backlog after the latest Welcome. */
  readonly lastResent: number;
  /** Reports this scaler lacked but the backlog no longer held, over all reconnects. */
  readonly reportsLost: number;
  readonly scalerId?: string;
  /** Why the latest watch set from this scaler could not be applied (undefined: it was). */
  readonly watchSetProblem?: string;
}

/** Repeat "still unreachable" warnings at most this often; the attempts in between log at debug. */
const UNREACHABLE_WARN_INTERVAL_MS = 60_000;

/** Waiting for the scaler to end the stream with OK after our half-close, before cancelling. */
const CLOSE_GRACE_MS = 1000;

/**
 * One collector -> scaler replica stream: Hello, Welcome, then reports from the shared
 * backlog starting after Welcome.last_sequence; WatchSets go up to the client. Reconnects
 * on any end with jittered backoff. A fresh grpc-js client (with a private subchannel pool)
 * per attempt, so grpc-js' own reconnect backoff (1 s growing to 120 s) never stacks on
 * top of ours.
 */
export class ScalerConnection {
  private state: ConnectionState = 'connecting';
  private client: grpc.Client | undefined;
  private call: grpc.ClientDuplexStream<CollectorMessage, ScalerMessage__Output> | undefined;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private welcomeTimer: NodeJS.Timeout | undefined;
  private readyAt = 0;
  /** Next report sequence this scaler is owed. */
  private nextSequence = 1;
  private blocked = false;
  private lastUnreachableWarn = 0;
  private closing: Promise<void> | undefined;
  private onCallEnded: (() => void) | undefined;
  private readonly log: Logger;
  private counters = { connects: 0, reportsWritten: 0, lastResent: 0, reportsLost: 0 };
  private scalerId: string | undefined;
  private assembler = new WatchSetAssembler();
  private watchSetProblem: string | undefined;

  constructor(private readonly options: ScalerConnectionOptions) {
    this.backoff = new Backoff(options.backoff, options.random);
    this.log = options.logger.child({ scaler: options.endpoint.key, ...(options.endpoint.hostname ? { scalerHost: options.endpoint.hostname } : {}) });
  }

  get key(): string {
    return this.options.endpoint.key;
  }

  start(): void {
    this.connect();
  }

  status(): ScalerConnectionStatus {
    const { endpoint } = this.options;
    return {
      key: endpoint.key,
      ...(endpoint.hostname ? { hostname: endpoint.hostname } : {}),
      state: this.state,
      ...this.counters,
      ...(this.scalerId !== undefined ? { scalerId: this.scalerId } : {}),
      ...(this.watchSetProblem !== undefined ? { watchSetProblem: this.watchSetProblem } : {}),
    };
  }

  /** Writes whatever this scaler is owed from the backlog; called after every new report. */
  pump(): void {
    const call = this.call;
    if (this.state !== 'ready' || this.blocked || !call) return;
    const { backlog } = this.options;
    while (this.nextSequence <= backlog.lastSequence) {
      const item = backlog.get(this.nextSequence);
      if (!item) {
        // Evicted while the stream was blocked on flow control: the scaler will see a gap.
        const first = backlog.firstSequence;
        this.loseReports(first - this.nextSequence, 'scaler too slow; backlog overflowed');
        this.nextSequence = first;
        continue;
      }
      const writable = call.write({ report: item.report });
      this.nextSequence++;
      this.counters.reportsWritten++;
      if (!writable) {
        // HTTP/2 flow control pushes back: stop here and let the backlog (bounded) hold the
        // rest instead of grpc-js' unbounded write buffer.
        this.blocked = true;
        call.once('drain', () => {
          if (this.call !== call) return;
          this.blocked = false;
          this.pump();
        });
        return;
      }
    }
  }

  /** Half-closes the stream (the scaler ends it with OK) and stops reconnecting. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.retryTimer);
    clearTimeout(this.welcomeTimer);
    const call = this.call;
    if (call) {
      await new Promise<void>((resolve) => {
        const grace = setTimeout(() => call.cancel(), CLOSE_GRACE_MS);
        this.onCallEnded = () => {
          clearTimeout(grace);
          resolve();
        };
        call.end();
      });
    }
    this.client?.close();
    this.client = undefined;
  }

  private connect(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    this.blocked = false;
    const { endpoint, proto, credentials } = this.options;
    const channelOptions: grpc.ChannelOptions = {
      'grpc.use_local_subchannel_pool': 1,
      // Notice a scaler whose node vanished (no RST) within ~30 s.
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 10_000,
      ...(endpoint.hostname
        ? { 'grpc.default_authority': `${endpoint.hostname}:${endpoint.port}`, 'grpc.ssl_target_name_override': endpoint.hostname }
        : {}),
    };
    const client = new proto.kedaebpf.collector.v1.CollectorIngest(endpoint.target, credentials, channelOptions);
    const call = this.options.metadata ? client.Connect(this.options.metadata()) : client.Connect();
    this.assembler = new WatchSetAssembler();
    this.client = client;
    this.call = call;
    call.on('data', (message: ScalerMessage__Output) => this.onMessage(call, message));
    // Every end arrives as 'status'; 'error' needs a listener only so it is not thrown.
    call.on('error', () => {});
    call.on('status', (status: grpc.StatusObject) => this.onEnded(call, client, status));
    this.welcomeTimer = setTimeout(() => {
      this.log.warn({ timeoutMs: this.options.welcomeTimeoutMs }, 'scaler sent no Welcome in time; reconnecting');
      call.cancel();
    }, this.options.welcomeTimeoutMs);
    call.write({ hello: { ...this.options.hello, monotonic_ms: Math.max(1, monotonicMs()) } });
  }

  private onMessage(call: grpc.ClientDuplexStream<CollectorMessage, ScalerMessage__Output>, message: ScalerMessage__Output): void {
    if (call !== this.call || this.state === 'closed') return;
    if (message.welcome) {
      if (this.state === 'ready') {
        this.log.warn('second Welcome on one stream ignored');
        return;
      }
      clearTimeout(this.welcomeTimer);
      const welcome = message.welcome;
      if (welcome.protocol_version !== 0 && welcome.protocol_version !== PROTOCOL_VERSION) {
        this.log.warn({ scalerProtocol: welcome.protocol_version, ours: PROTOCOL_VERSION }, 'scaler speaks another protocol version');
      }
      this.state = 'ready';
      this.readyAt = Date.now();
      this.scalerId = welcome.scaler_id;
      this.counters.connects++;
      const resent = this.startAfter(Number(welcome.last_sequence));
      this.counters.lastResent = resent;
      this.log.info({ scalerId: welcome.scaler_id, lastSequence: welcome.last_sequence, resend: resent }, 'connected to scaler');
      this.pump();
    } else if (message.watch_set) {
      const assembled = this.assembler.add(message.watch_set);
      if (assembled.kind === 'partial') return;
      if (assembled.kind === 'broken') {
        this.watchSetProblem = assembled.problem;
        this.log.warn({ problem: assembled.problem }, 'watch set from this scaler cannot be applied; waiting for the next one');
        return;
      }
      const { targets, rejected } = parseWatchTargets(assembled.targets);
      for (const line of rejected) this.log.warn({ generation: assembled.generation }, `watch target rejected: ${line}`);
      this.watchSetProblem = rejected.length > 0 ? `${rejected.length} watch targets rejected; first: ${rejected[0]}` : undefined;
      this.options.onWatchSet(this.key, targets);
    }
  }

  /** Positions the stream after what the scaler has; returns how many backlog reports it will resend. */
  private startAfter(lastSequence: number): number {
    const { backlog } = this.options;
    const produced = backlog.lastSequence;
    if (!Number.isSafeInteger(lastSequence) || lastSequence < 0 || lastSequence > produced) {
      // Cannot be ours (collector_id is new per process): send from now on, nothing old.
      if (lastSequence !== 0) this.log.warn({ lastSequence, produced }, 'scaler claims reports this collector never sent');
      this.nextSequence = produced + 1;
      return 0;
    }
    let next = lastSequence + 1;
    if (produced > 0 && next < backlog.firstSequence) {
      this.loseReports(backlog.firstSequence - next, 'outage longer than the backlog');
      next = backlog.firstSequence;
    }
    this.nextSequence = next;
    return produced - next + 1;
  }

  private loseReports(count: number, why: string): void {
    this.counters.reportsLost += count;
    this.log.warn({ lost: count }, `reports the scaler lacks are no longer in the backlog (${why}); it will show a gap`);
  }

  private onEnded(call: grpc.ClientDuplexStream<CollectorMessage, ScalerMessage__Output>, client: grpc.Client, status: grpc.StatusObject): void {
    if (call !== this.call) return;
    clearTimeout(this.welcomeTimer);
    this.call = undefined;
    if (this.state === 'closed') {
      this.onCallEnded?.();
      return;
    }
    client.close();
    if (this.client === client) this.client = undefined;
    const wasReady = this.state === 'ready';
    if (wasReady && Date.now() - this.readyAt >= this.options.stableMs) this.backoff.reset();
    const delay = this.backoff.nextDelayMs();
    const fields = { code: grpc.status[status.code], details: status.details, retryInMs: delay, attempt: this.backoff.attempts };
    const now = Date.now();
    if (status.code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/i.test(status.details)) {
      // The scaler's messages do not fit this collector's receive limit: its targets are not observed.
      this.watchSetProblem = `a message from the scaler exceeds the receive limit: ${status.details}`;
      this.log.error(fields, 'watch set from this scaler cannot be received (message too large); its targets are not observed');
    } else if (status.code === grpc.status.UNAUTHENTICATED || status.code === grpc.status.PERMISSION_DENIED) {
      this.log.error(fields, 'scaler refused this collector\'s credentials (check --token-file, or the client certificate and its CN); retrying');
      this.lastUnreachableWarn = now;
    } else if (wasReady) {
      this.log.warn(fields, 'scaler stream ended; reconnecting');
      this.lastUnreachableWarn = now;
    } else if (now - this.lastUnreachableWarn >= UNREACHABLE_WARN_INTERVAL_MS) {
      this.log.warn(fields, 'scaler unreachable; retrying');
      this.lastUnreachableWarn = now;
    } else {
      this.log.debug(fields, 'scaler connection attempt failed');
    }
    this.state = 'backoff';
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}

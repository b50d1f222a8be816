import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { MAX_TARGETS } from '../bpf/abi.js';
import { bpfStatsEnabled, programRunStats } from '../bpf/prog-stats.js';
import type { ReportUplink } from '../collector/agent.js';
import type { CollectorTick } from '../collector/types.js';
import type { CollectorRuntime } from '../collector/runtime.js';
import type { ScalerConnectionStatus } from '../stream/scaler-connection.js';

/**
 * The collector's metrics, read from what the collector already exposes: the chosen hook
 * rung (runtime.hooks), per-program run count and time by kernel id (core.programIds(),
 * while kernel.bpf_stats_enabled is 1), watched targets against the kernel's slot capacity
 * and map-full events, the kernel's own health counters (core.health()), the duration and
 * failures of each tick handed to the uplink (measuredUplink), and per scaler the stream
 * client's connection status.
 */
export interface CollectorMetricSources {
  readonly runtime: CollectorRuntime;
  /** The gRPC stream client's per-scaler status; absent in standalone mode. */
  readonly scalers?: () => readonly ScalerConnectionStatus[];
}

export class CollectorMetrics {
  private readonly tickSeconds: Histogram;
  private readonly sendErrors: Counter;
  private readonly holdConnections: Counter;
  private readonly listenDrops: Counter<'kind'>;
  private readonly acceptQueueFill: Gauge<'target_id'>;
  private readonly protocolEvents: Counter;
  private readonly abortedRequests: Counter<'target_id'>;

  constructor(registry: Registry, sources: CollectorMetricSources) {
    const registers = [registry];
    const { runtime } = sources;
    new Gauge({
      name: 'keda_ebpf_collector_hook_rung_info',
      help: 'The kernel hook rung this collector attached (1 for the rung in use).',
      labelNames: ['rung'],
      registers,
      collect() {
        this.reset();
        this.set({ rung: runtime.hooks.rung }, 1);
      },
    });
    const programs = (): [string, ReturnType<typeof programRunStats>][] => {
      if (!bpfStatsEnabled()) return [];
      return Object.entries(runtime.core.programIds()).map(([program, id]) => [program, programRunStats(id)]);
    };
    new Counter({
      name: 'keda_ebpf_collector_program_runs_total',
      help: 'Runs of each attached BPF program, counted by the kernel while kernel.bpf_stats_enabled=1 (absent otherwise).',
      labelNames: ['program'],
      registers,
      collect() {
        this.reset();
        for (const [program, stats] of programs()) this.inc({ program }, Number(stats.runCount));
      },
    });
    new Counter({
      name: 'keda_ebpf_collector_program_run_seconds_total',
      help: 'Time spent in each attached BPF program, measured by the kernel while kernel.bpf_stats_enabled=1 (absent otherwise).',
      labelNames: ['program'],
      registers,
      collect() {
        this.reset();
        for (const [program, stats] of programs()) this.inc({ program }, Number(stats.runTimeNs) / 1e9);
      },
    });
    new Gauge({
      name: 'keda_ebpf_collector_watched_targets',
      help: 'Targets programmed into the kernel maps.',
      registers,
      collect() {
        this.set(runtime.core.health().targets);
      },
    });
    new Gauge({
      name: 'keda_ebpf_collector_target_slots',
      help: 'Target slots of the kernel stats map (watched_targets / target_slots is the map fill).',
      registers,
      collect() {
        this.set(MAX_TARGETS);
      },
    });
    new Counter({
      name: 'keda_ebpf_collector_map_full_total',
      help: 'Watch entries not programmed because a kernel map was full.',
      registers,
      collect() {
        this.reset();
        this.inc(runtime.core.health().mapFull);
      },
    });
    new Counter({
      name: 'keda_ebpf_collector_conn_state_failures_total',
      help: 'Connections the kernel side could not track (connection-state map full).',
      registers,
      collect() {
        this.reset();
        this.inc(Number(runtime.core.health().kernel.connStateFailures));
      },
    });
    new Counter({
      name: 'keda_ebpf_collector_wakeup_drops_total',
      help: 'Demand wake-up events dropped by the kernel (ring buffer full).',
      registers,
      collect() {
        this.reset();
        this.inc(Number(runtime.core.health().kernel.wakeupDrops));
      },
    });
    this.tickSeconds = new Histogram({
      name: 'keda_ebpf_collector_tick_duration_seconds',
      help: 'From reading the kernel counters to the report handed to the uplink (stream client or in-process ingest).',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    });
    this.sendErrors = new Counter({ name: 'keda_ebpf_collector_send_errors_total', help: 'Ticks the uplink failed to take (the agent logs each).', registers });
    this.holdConnections = new Counter({
      name: 'keda_ebpf_collector_hold_connections_total',
      help: 'holdAtZero, per client connection on this node: held (its first SYN dropped while the target was not ready), released (let through because the target turned ready), timed_out (let through when holdAtZero passed).',
      labelNames: ['outcome'],
      registers,
    });
    this.listenDrops = new Counter({
      name: 'keda_ebpf_collector_listen_drops_total',
      help: 'Connection attempts watched listeners on this node dropped because their accept queue was full (nstat TcpExtListenOverflows), by kind: syn (a new attempt) or ack (a handshake the client retries); both count in rps.',
      labelNames: ['kind'],
      registers,
    });
    this.acceptQueueFill = new Gauge({
      name: 'keda_ebpf_collector_accept_queue_fill_ratio',
      help: 'Per target, over the last tick: the mean accept-queue length new SYNs found, divided by the listen() backlog (above 1: the queue was full and SYNs were dropped). Only targets whose listeners got SYNs in the tick.',
      labelNames: ['target_id'],
      registers,
    });
    this.protocolEvents = new Counter({
      name: 'keda_ebpf_collector_protocol_events_total',
      help:
        'Protocol framing per target (bpf/protocol_framing.bpf.c): h2c_connection, tls_connection (timed per stream / per record), ' +
        'tls_h2_connection (TLS offering ALPN h2: not timed, not in latency or rps), h2_stream_over_limit (streams beyond 128 in flight on a connection: not timed), ' +
        'framing_lost (a gap in the byte stream or too many frames in a packet: the connection is no longer timed), interim_response (HTTP/1 1xx that did not end its request).',
      labelNames: ['target_id', 'event'],
      registers,
    });
    this.abortedRequests = new Counter({
      name: 'keda_ebpf_collector_requests_aborted_total',
      help: 'Per target: requests that ended without a response, because the connection closed or was reset while one was open (HTTP/2: streams still open at close). Not in latency or rps.',
      labelNames: ['target_id'],
      registers,
    });
    const scalers = sources.scalers;
    if (scalers) {
      new Counter({
        name: 'keda_ebpf_collector_scaler_connects_total',
        help: 'Streams to each scaler that reached Welcome (reconnects = this minus 1).',
        labelNames: ['scaler'],
        registers,
        collect() {
          this.reset();
          for (const s of scalers()) this.inc({ scaler: s.key }, s.connects);
        },
      });
      new Gauge({
        name: 'keda_ebpf_collector_scaler_connected',
        help: 'Whether the stream to each scaler is ready (1) or connecting / in backoff (0).',
        labelNames: ['scaler'],
        registers,
        collect() {
          this.reset();
          for (const s of scalers()) this.set({ scaler: s.key }, s.state === 'ready' ? 1 : 0);
        },
      });
      new Counter({
        name: 'keda_ebpf_collector_reports_written_total',
        help: 'Reports written to each scaler over all its streams (resends included).',
        labelNames: ['scaler'],
        registers,
        collect() {
          this.reset();
          for (const s of scalers()) this.inc({ scaler: s.key }, s.reportsWritten);
        },
      });
      new Counter({
        name: 'keda_ebpf_collector_reports_lost_total',
        help: 'Reports a reconnecting scaler lacked that the backlog no longer held.',
        labelNames: ['scaler'],
        registers,
        collect() {
          this.reset();
          for (const s of scalers()) this.inc({ scaler: s.key }, s.reportsLost);
        },
      });
    }
  }

  private countHolds(tick: CollectorTick): void {
    let held = 0;
    let released = 0;
    let timedOut = 0;
    for (const t of tick.targets) {
      held += t.heldConnections ?? 0;
      released += t.releasedConnections ?? 0;
      timedOut += t.timedOutConnections ?? 0;
    }
    if (held) this.holdConnections.inc({ outcome: 'held' }, held);
    if (released) this.holdConnections.inc({ outcome: 'released' }, released);
    if (timedOut) this.holdConnections.inc({ outcome: 'timed_out' }, timedOut);
  }

  private countListenQueues(tick: CollectorTick): void {
    let syn = 0;
    let ack = 0;
    this.acceptQueueFill.reset();
    for (const t of tick.targets) {
      syn += t.listenSynDrops ?? 0;
      ack += t.listenAckDrops ?? 0;
      if (t.listenSyns && t.acceptBacklog) this.acceptQueueFill.set({ target_id: t.targetId }, (t.acceptQueueSum ?? 0) / t.listenSyns / t.acceptBacklog);
    }
    if (syn) this.listenDrops.inc({ kind: 'syn' }, syn);
    if (ack) this.listenDrops.inc({ kind: 'ack' }, ack);
  }

  private countProtocol(tick: CollectorTick): void {
    for (const t of tick.targets) {
      const p = t.protocol;
      if (!p) continue;
      const events: [string, number][] = [
        ['h2c_connection', p.h2cConnections],
        ['tls_connection', p.tlsConnections],
        ['tls_h2_connection', p.tlsH2Connections],
        ['h2_stream_over_limit', p.h2StreamsOverLimit],
        ['framing_lost', p.framingLost],
        ['interim_response', p.interimResponses],
      ];
      for (const [event, count] of events) if (count) this.protocolEvents.inc({ target_id: t.targetId, event }, count);
    }
  }

  private countAborted(tick: CollectorTick): void {
    for (const t of tick.targets) if (t.abortedRequests) this.abortedRequests.inc({ target_id: t.targetId }, t.abortedRequests);
  }

  /** Wraps the uplink the agent sends ticks to: times each tick and counts failed sends. */
  measuredUplink(uplink: ReportUplink): ReportUplink {
    return {
      send: (tick: CollectorTick) => {
        this.countHolds(tick);
        this.countListenQueues(tick);
        this.countProtocol(tick);
        this.countAborted(tick);
        try {
          return uplink.send(tick);
        } catch (err) {
          this.sendErrors.inc();
          throw err;
        } finally {
          this.tickSeconds.observe(Math.max(0, Date.now() - tick.endUnixMs) / 1000);
        }
      },
    };
  }
}

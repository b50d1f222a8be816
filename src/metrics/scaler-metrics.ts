import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Ingest } from '../ingest/ingest.js';
import type { WindowStore } from '../scaler/window-store.js';
import { TargetAnswers } from './target-answers.js';

/**
 * The scaler's metrics: KEDA RPCs (counted and timed by instrument-keda.ts), streams,
 * collectors and their reports (from Ingest), targets and window-store slots (from the
 * store), and per target exactly what KEDA was last told (target-answers.ts). Counters the
 * ingest and the store keep themselves are read at scrape time, not duplicated.
 */
/** The window of keda_ebpf_target_listen_drops_per_second (the default trigger window). */
const LISTEN_DROPS_WINDOW_MS = 30_000;

export class ScalerMetrics {
  readonly answers = new TargetAnswers();
  private readonly rpcs: Counter<'method' | 'code'>;
  private readonly rpcSeconds: Histogram<'method' | 'code'>;
  private readonly streams: Gauge<'kind'>;
  private readonly reportLag: Histogram;
  private readonly streamCount = new Map<string, number>();
  /**
   * RPCs counted since the last scrape, method -> code -> count: two lookups of constant
   * strings per RPC, added to the counter when it is collected, instead of prom-client's
   * label hashing and validation on every RPC (a few per cent of the KEDA path's CPU).
   */
  private readonly pendingRpcs = new Map<string, Map<string, number>>();
  private sources: { ingest: Ingest; store: WindowStore; clock: () => number } | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    const pendingRpcs = this.pendingRpcs;
    this.rpcs = new Counter({
      name: 'keda_ebpf_keda_requests_total',
      help: 'ExternalScaler RPCs from KEDA, by method and final gRPC status code (streams count when they end).',
      labelNames: ['method', 'code'],
      registers,
      collect() {
        for (const [method, byCode] of pendingRpcs) for (const [code, n] of byCode) this.inc({ method, code }, n);
        pendingRpcs.clear();
      },
    });
    this.rpcSeconds = new Histogram({
      name: 'keda_ebpf_keda_request_duration_seconds',
      help: 'Time to answer a unary ExternalScaler RPC, by method and gRPC status code.',
      labelNames: ['method', 'code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const streamCount = this.streamCount;
    const sources = (): { ingest: Ingest; store: WindowStore; clock: () => number } | undefined => this.sources;
    this.streams = new Gauge({
      name: 'keda_ebpf_open_streams',
      help: 'Open server streams by kind: StreamIsActive and StreamMetricSpec (KEDA), collector (collector ingest streams, in-process included).',
      labelNames: ['kind'],
      registers,
      collect() {
        for (const kind of ['StreamIsActive', 'StreamMetricSpec']) this.set({ kind }, streamCount.get(kind) ?? 0);
        this.set({ kind: 'collector' }, sources()?.ingest.stats().collectorsConnected ?? 0);
      },
    });
    this.reportLag = new Histogram({
      name: 'keda_ebpf_report_lag_seconds',
      help: 'Age of a collector report when the scaler received it (receive time minus the end of the interval it covers).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    new Gauge({
      name: 'keda_ebpf_collectors_connected',
      help: 'Collectors with an open session (gRPC streams and the in-process collector of standalone mode).',
      registers,
      collect() {
        this.set(sources()?.ingest.stats().collectorsConnected ?? 0);
      },
    });
    new Counter({
      name: 'keda_ebpf_reports_total',
      help: 'Collector reports received, by result: accepted, rejected (malformed report or delta), duplicate (a resend already merged).',
      labelNames: ['result'],
      registers,
      collect() {
        const s = sources()?.ingest.stats();
        this.reset();
        this.inc({ result: 'accepted' }, s?.reportsAccepted ?? 0);
        this.inc({ result: 'rejected' }, s?.reportsRejected ?? 0);
        this.inc({ result: 'duplicate' }, s?.reportsDuplicate ?? 0);
      },
    });
    new Counter({
      name: 'keda_ebpf_report_rejections_total',
      help: 'Rejected report parts by reason (the offending field, report.<field>, or unknown-target for deltas of targets this replica does not track).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(sources()?.ingest.stats().rejectedByReason ?? {})) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'keda_ebpf_report_deltas_total',
      help: 'Target deltas in collector reports, by result: accepted, rejected (malformed), unknown_target (dropped, not an error).',
      labelNames: ['result'],
      registers,
      collect() {
        const s = sources()?.ingest.stats();
        this.reset();
        this.inc({ result: 'accepted' }, s?.deltasAccepted ?? 0);
        this.inc({ result: 'rejected' }, s?.deltasRejected ?? 0);
        this.inc({ result: 'unknown_target' }, s?.deltasUnknownTarget ?? 0);
      },
    });
    new Counter({
      name: 'keda_ebpf_report_sequence_gaps_total',
      help: 'Reports missing between two received sequence numbers of one collector.',
      registers,
      collect() {
        this.reset();
        this.inc(sources()?.ingest.stats().sequenceGaps ?? 0);
      },
    });
    new Counter({
      name: 'keda_ebpf_collector_restarts_total',
      help: 'Collector restarts seen (a node\'s collector id changed): the windows show a gap there.',
      registers,
      collect() {
        this.reset();
        this.inc(sources()?.ingest.stats().collectorRestarts ?? 0);
      },
    });
    new Gauge({
      name: 'keda_ebpf_targets',
      help: 'Targets live in the window store (bounded by --max-targets).',
      registers,
      collect() {
        this.set(sources()?.store.stats().targets ?? 0);
      },
    });
    new Gauge({
      name: 'keda_ebpf_targets_max',
      help: 'The --max-targets bound.',
      registers,
      collect() {
        this.set(sources()?.store.maxTargets ?? 0);
      },
    });
    new Counter({
      name: 'keda_ebpf_targets_refused_total',
      help: 'New targets refused with RESOURCE_EXHAUSTED because --max-targets were live.',
      registers,
      collect() {
        this.reset();
        this.inc(sources()?.store.stats().refusedTotal ?? 0);
      },
    });
    new Counter({
      name: 'keda_ebpf_targets_expired_total',
      help: 'Targets dropped after --target-idle-expiry without an RPC or open stream.',
      registers,
      collect() {
        this.reset();
        this.inc(sources()?.store.stats().expiredTotal ?? 0);
      },
    });
    new Gauge({
      name: 'keda_ebpf_window_store_slots',
      help: 'One-second window slots allocated over all targets (bound: max targets x longest window).',
      registers,
      collect() {
        this.set(sources()?.store.stats().slots ?? 0);
      },
    });
    new Gauge({
      name: 'keda_ebpf_window_store_bucket_entries',
      help: 'Latency histogram bucket entries held over all slots.',
      registers,
      collect() {
        this.set(sources()?.store.stats().bucketEntries ?? 0);
      },
    });
    const answers = this.answers;
    new Gauge({
      name: 'keda_ebpf_target_active',
      help: 'What the scaler last told KEDA about a target\'s activity (1 active, 0 inactive), labelled by target id and the ScaledObjects (namespace/name) that asked.',
      labelNames: ['target_id', 'scaled_objects'],
      registers,
      collect() {
        this.reset();
        const store = sources()?.store;
        if (store) answers.prune((id) => store.has(id));
        for (const a of answers.list()) if (a.active !== undefined) this.set({ target_id: a.targetId, scaled_objects: a.scaledObjects }, a.active ? 1 : 0);
      },
    });
    new Gauge({
      name: 'keda_ebpf_target_metric_value',
      help: 'The metric value the scaler last told KEDA (GetMetrics), by target id, metric (latency-p95 in ms, rps, concurrency, with -w<window> when not 30s) and the ScaledObjects that asked.',
      labelNames: ['target_id', 'metric', 'scaled_objects'],
      registers,
      collect() {
        this.reset();
        const store = sources()?.store;
        if (store) answers.prune((id) => store.has(id));
        for (const a of answers.list()) for (const [metric, value] of a.values) this.set({ target_id: a.targetId, metric, scaled_objects: a.scaledObjects }, value);
      },
    });
    new Gauge({
      name: 'keda_ebpf_target_listen_drops_per_second',
      help: 'Per target KEDA asked about, over the last 30 s: connection attempts its listeners dropped because their accept queue was full (SYNs and handshake ACKs, per second). They are part of rps as unserved demand.',
      labelNames: ['target_id'],
      registers,
      collect() {
        this.reset();
        const s = sources();
        if (!s) return;
        const now = s.clock();
        for (const a of answers.list()) {
          const sums = s.store.query(a.targetId, now, LISTEN_DROPS_WINDOW_MS, false);
          if (sums) this.set({ target_id: a.targetId }, sums.listenDrops / sums.coveredSeconds);
        }
      },
    });
  }

  /** Connects the stats sources of one scaler server (called by createScalerServer). */
  observe(ingest: Ingest, store: WindowStore, clock: () => number): void {
    this.sources = { ingest, store, clock };
    this.answers.bound(store.maxTargets);
    ingest.onReport((report) => {
      if (Number.isFinite(report.end_unix_ms) && report.end_unix_ms > 0) this.reportLag.observe(Math.max(0, clock() - report.end_unix_ms) / 1000);
    });
  }

  rpcDone(method: string, code: string, seconds?: number): void {
    let byCode = this.pendingRpcs.get(method);
    if (byCode === undefined) {
      byCode = new Map();
      this.pendingRpcs.set(method, byCode);
    }
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
    if (seconds !== undefined) this.rpcSeconds.observe({ method, code }, seconds);
  }

  streamOpened(kind: string): void {
    this.streamCount.set(kind, (this.streamCount.get(kind) ?? 0) + 1);
  }

  streamClosed(kind: string): void {
    this.streamCount.set(kind, Math.max(0, (this.streamCount.get(kind) ?? 0) - 1));
  }
}
